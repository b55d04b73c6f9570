"""Generates the NodeSet2 XML of our namespace (the types) from the tag table.

``python -m twin.opcua.nodeset > nodesets/tank-twin.NodeSet2.xml`` and
``python -m twin.opcua.nodeset --csv > nodesets/tank-twin.NodeIds.csv``; a test
keeps both checked-in files current. The output is deterministic: no time
stamps other than the model's publication date below.

Format: OPC UA Part 6, Annex F (UANodeSet). Values use the XML encodings of
Range (i=885), EUInformation (i=888) and Argument (i=297).
"""

from __future__ import annotations

import csv
import io
import sys
import xml.etree.ElementTree as ET

from twin.opcua.model import (
    NAMESPACE_URI,
    Component,
    Method,
    VariableKind,
    simulation_model,
    tank_model,
    variable_kind,
)
from twin.tags import DataType, Tag, TagTable, Unit
from twin.tank_config import TankSettings

MODEL_VERSION = "1.0.0"
PUBLICATION_DATE = "2026-12-01T00:00:00Z"
UA_MODEL = ("http://opcfoundation.org/UA/", "1.04.0", "2019-05-01T00:00:00Z")
UNITS_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
NODESET_NS = "http://opcfoundation.org/UA/2011/03/UANodeSet.xsd"
TYPES_NS = "http://opcfoundation.org/UA/2008/02/Types.xsd"

ACCESS_READ, ACCESS_WRITE = 1, 2  # AccessLevel bits CurrentRead, CurrentWrite (Part 3, 8.57)
MANDATORY = "i=78"
TYPE_IDS = {
    VariableKind.ANALOG_RANGE: "i=17570",
    VariableKind.ANALOG: "i=17497",
    VariableKind.MULTISTATE: "i=2376",
    VariableKind.PLAIN: "i=63",
}
DATA_TYPES = {DataType.DOUBLE: "Double", DataType.BOOLEAN: "Boolean",
              DataType.ENUM: "UInt32", DataType.UINT64: "UInt64"}
ALIASES = {
    "Boolean": "i=1", "UInt32": "i=7", "UInt64": "i=9", "Double": "i=11",
    "LocalizedText": "i=21", "Range": "i=884", "EUInformation": "i=887", "Argument": "i=296",
    "Organizes": "i=35", "HasModellingRule": "i=37", "HasTypeDefinition": "i=40",
    "HasSubtype": "i=45", "HasProperty": "i=46", "HasComponent": "i=47",
}
BUILTIN_IDS = {"UInt32": "i=7", "Double": "i=11", "UInt64": "i=9", "Boolean": "i=1"}


def data_type(tag: Tag) -> str:
    return DATA_TYPES[tag.dtype]


def access_level(tag: Tag) -> int:
    return ACCESS_READ | (ACCESS_WRITE if tag.writable else 0)


def _nid(ident: str) -> str:
    return f"ns=1;s={ident}"


class _Writer:
    """Appends UANodeSet elements; ``ident`` strings are local (ns=1) string NodeIds."""

    def __init__(self) -> None:
        # Plain tag names; the two namespaces are declared as literal attributes.
        self.root = ET.Element("UANodeSet", {"xmlns": NODESET_NS, "xmlns:uax": TYPES_NS})
        uris = ET.SubElement(self.root, "NamespaceUris")
        ET.SubElement(uris, "Uri").text = NAMESPACE_URI
        models = ET.SubElement(self.root, "Models")
        model = ET.SubElement(models, "Model", {"ModelUri": NAMESPACE_URI, "Version": MODEL_VERSION,
                                                "PublicationDate": PUBLICATION_DATE})
        uri, version, date = UA_MODEL
        ET.SubElement(model, "RequiredModel",
                      {"ModelUri": uri, "Version": version, "PublicationDate": date})
        aliases = ET.SubElement(self.root, "Aliases")
        for alias, target in ALIASES.items():
            ET.SubElement(aliases, "Alias", {"Alias": alias}).text = target
        self.rows: list[tuple[str, str, str]] = []  # (symbol, identifier, node class)

    def node(self, cls: str, ident: str, browse: str, description: str = "",
             parent: str | None = None, **attrs: str) -> ET.Element:
        attributes = {"NodeId": _nid(ident), "BrowseName": browse, **attrs}
        if parent is not None:
            attributes["ParentNodeId"] = _nid(parent)
        element = ET.SubElement(self.root, cls, attributes)
        ET.SubElement(element, "DisplayName").text = browse.partition(":")[2] or browse
        if description:
            ET.SubElement(element, "Description").text = description
        ET.SubElement(element, "References")
        self.rows.append((ident.replace(".", "_"), ident, cls.removeprefix("UA")))
        return element

    @staticmethod
    def ref(element: ET.Element, kind: str, target: str, forward: bool = True) -> None:
        refs = element.find("References")
        assert refs is not None
        attrs = {"ReferenceType": kind}
        if not forward:
            attrs["IsForward"] = "false"
        ET.SubElement(refs, "Reference", attrs).text = target

    def child(self, cls: str, ident: str, browse: str, parent: str, ref: str,
              type_def: str | None, description: str = "", **attrs: str) -> ET.Element:
        """An instance declaration: mandatory, referenced from its parent."""
        element = self.node(cls, ident, browse, description, parent, **attrs)
        if type_def is not None:
            self.ref(element, "HasTypeDefinition", type_def)
        self.ref(element, "HasModellingRule", MANDATORY)
        self.ref(element, ref, _nid(parent), forward=False)
        return element


def _value(element: ET.Element) -> ET.Element:
    return ET.SubElement(element, "Value")


def _ext(parent: ET.Element, encoding: str, body_name: str) -> ET.Element:
    ext = ET.SubElement(parent, "uax:ExtensionObject")
    type_id = ET.SubElement(ext, "uax:TypeId")
    ET.SubElement(type_id, "uax:Identifier").text = encoding
    body = ET.SubElement(ext, "uax:Body")
    return ET.SubElement(body, f"uax:{body_name}")


def _text(parent: ET.Element, name: str, text: str) -> None:
    ET.SubElement(parent, f"uax:{name}").text = text


def _localized(parent: ET.Element, name: str, text: str) -> None:
    element = ET.SubElement(parent, f"uax:{name}")
    ET.SubElement(element, "uax:Locale").text = "en"
    ET.SubElement(element, "uax:Text").text = text


def _properties(w: _Writer, tag: Tag, ident: str, settings: TankSettings | None) -> None:
    kind = variable_kind(tag)
    if kind in (VariableKind.ANALOG_RANGE, VariableKind.ANALOG):
        assert tag.unit is not None
        element = w.child("UAVariable", f"{ident}.EngineeringUnits", "EngineeringUnits", ident,
                          "HasProperty", "i=68", DataType="EUInformation")
        _eu_information(_value(element), tag.unit)
    if kind is VariableKind.ANALOG_RANGE:
        low, high = tag.bounds(settings)
        element = w.child("UAVariable", f"{ident}.EURange", "EURange", ident, "HasProperty",
                          "i=68", DataType="Range")
        rng = _ext(_value(element), "i=885", "Range")
        _text(rng, "Low", repr(low if low is not None else 0.0))
        _text(rng, "High", repr(high if high is not None else 0.0))
    if kind is VariableKind.MULTISTATE:
        element = w.child("UAVariable", f"{ident}.EnumStrings", "EnumStrings", ident,
                          "HasProperty", "i=68", DataType="LocalizedText", ValueRank="1",
                          ArrayDimensions=str(len(tag.states)))
        texts = ET.SubElement(_value(element), "uax:ListOfLocalizedText")
        for state in tag.states:
            _localized(texts, "LocalizedText", state)


def _eu_information(value: ET.Element, unit: Unit) -> None:
    body = _ext(value, "i=888", "EUInformation")
    _text(body, "NamespaceUri", UNITS_NAMESPACE)
    _text(body, "UnitId", str(unit.unit_id))
    _localized(body, "DisplayName", unit.symbol)
    _localized(body, "Description", unit.code or unit.symbol)


def _variable(w: _Writer, tag: Tag, owner: str, settings: TankSettings | None) -> None:
    ident = f"{owner}.{tag.name}"
    level = str(access_level(tag))
    w.child("UAVariable", ident, f"1:{tag.name}", owner, "HasComponent",
            TYPE_IDS[variable_kind(tag)], tag.description, DataType=data_type(tag),
            AccessLevel=level, UserAccessLevel=level)
    _properties(w, tag, ident, settings)


def _method(w: _Writer, method: Method, owner: str) -> None:
    ident = f"{owner}.{method.name}"
    w.child("UAMethod", ident, f"1:{method.name}", owner, "HasComponent", None,
            method.description)
    if not method.inputs:
        return
    element = w.child("UAVariable", f"{ident}.InputArguments", "InputArguments", ident,
                      "HasProperty", "i=68", DataType="Argument", ValueRank="1",
                      ArrayDimensions=str(len(method.inputs)))
    items = ET.SubElement(_value(element), "uax:ListOfExtensionObject")
    for arg in method.inputs:
        body = _ext(items, "i=297", "Argument")
        _text(body, "Name", arg.name)
        dtype = ET.SubElement(body, "uax:DataType")
        ET.SubElement(dtype, "uax:Identifier").text = BUILTIN_IDS[arg.type_name]
        _text(body, "ValueRank", "-1")
        ET.SubElement(body, "uax:ArrayDimensions")
        _localized(body, "Description", arg.description)


def _object_type(w: _Writer, component: Component, settings: TankSettings | None) -> None:
    """The ObjectType of ``component``, after the types of its groups."""
    for group in component.groups:
        _object_type(w, group, settings)
    owner = component.type_name
    element = w.node("UAObjectType", owner, f"1:{owner}", component.description)
    w.ref(element, "HasSubtype", "i=58", forward=False)
    for tag in component.tags:
        _variable(w, tag, owner, settings)
    for method in component.methods:
        _method(w, method, owner)
    for group in component.groups:
        w.child("UAObject", f"{owner}.{group.name}", f"1:{group.name}", owner, "HasComponent",
                _nid(group.type_name), group.description)


def build(tags: TagTable | None = None) -> _Writer:
    tags = tags or TagTable()
    writer = _Writer()
    _object_type(writer, tank_model(tags), TankSettings())  # EURange: the default tank's
    _object_type(writer, simulation_model(tags), None)
    return writer


def render_xml(tags: TagTable | None = None) -> str:
    root = build(tags).root
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def render_csv(tags: TagTable | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("SymbolName", "Identifier", "NodeClass"))
    writer.writerows(build(tags).rows)
    return out.getvalue()


if __name__ == "__main__":
    sys.stdout.write(render_csv() if "--csv" in sys.argv[1:] else render_xml())
