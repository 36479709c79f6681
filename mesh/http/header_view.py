"""Header fields as text, for what matches them against configuration (intentions, routes, hashing)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mesh.http.headers import Headers


class HeaderView(Mapping[str, str]):
    """Lower-case name -> the values joined by ',' (Envoy's view for header matching).

    Lazy: L7 permissions and routes look at a handful of fields, so nothing is decoded
    until a rule asks for it.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: Headers) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        try:
            values = self._headers.get_all(name.encode("latin-1"))
        except UnicodeEncodeError:
            values = []
        if not values:
            raise KeyError(name)
        return b",".join(values).decode("latin-1")

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for name, _ in self._headers:
            seen.setdefault(name.decode("latin-1").lower())
        return iter(seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.encode("latin-1", "replace") in self._headers
