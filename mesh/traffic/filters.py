"""How subset filters are checked: Consul's filter language, as mesh.filterexpr compiles it.

The compiler is a parameter of validation so that validation does not depend on how filters are
later evaluated. It raises ValueError (FilterSyntaxError is one) on a bad expression.
"""

from __future__ import annotations

from collections.abc import Callable

from mesh.filterexpr import compile_filter

FilterCompiler = Callable[[str], object]

CONSUL_FILTERS: FilterCompiler = compile_filter
