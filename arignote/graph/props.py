"""Value semantics from ``__props__``, shared by ops and types: two instances of one
class with equal parameters are equal and hash alike, so merging equal subgraphs
and comparing types are dictionary lookups."""


class Props:
    __slots__ = ()
    __props__ = ()

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))
