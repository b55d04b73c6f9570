"""The standard OPC UA address space (namespace 0), built once per process and copied.

asyncua builds its ~6,000 standard nodes from generated code for every server,
which takes over a second. Here that is done once; each server gets a copy whose
NodeData, attribute holders and references are its own (values holding lists
are copied too), so two servers in one process never share anything they write.
The template itself is never handed out.
"""

from __future__ import annotations

import copy
import functools

from asyncua import ua
from asyncua.server.address_space import (
    AddressSpace,
    AttributeValue,
    NodeData,
    NodeManagementService,
)
from asyncua.server.standard_address_space import standard_address_space


@functools.cache
def _template() -> dict[ua.NodeId, NodeData]:
    aspace = AddressSpace()
    standard_address_space.fill_address_space(  # type: ignore[no-untyped-call]
        NodeManagementService(aspace))
    return aspace._nodes


def standard_nodes() -> dict[ua.NodeId, NodeData]:
    """A fresh copy of the standard nodes (call it in a worker thread: ~0.3 s)."""
    return {node: _copy(data) for node, data in _template().items()}


def _copy(data: NodeData) -> NodeData:
    fresh = NodeData(data.nodeid)
    fresh.attributes = {attr: AttributeValue(_own(held.value))
                        for attr, held in data.attributes.items()}
    fresh.references = [copy.copy(ref) for ref in data.references]
    return fresh


def _own(value: ua.DataValue | None) -> ua.DataValue:
    """DataValues are replaced, never changed, when written; a list inside one may be
    changed in place by its reader (asyncua edits the NamespaceArray so): copy those."""
    if value is not None and value.Value is not None and isinstance(value.Value.Value, list):
        return copy.deepcopy(value)
    return value  # type: ignore[return-value]  # None is what asyncua stores there too
