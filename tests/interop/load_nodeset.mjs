// Loads our NodeSet2 XML with node-opcua's own nodeset loader (an independent
// stack) on top of the standard namespace, and prints what it found as JSON.
// usage: node load_nodeset.mjs <path/to/tank-twin.NodeSet2.xml>
import { AddressSpace } from "node-opcua-address-space";
import { generateAddressSpace } from "node-opcua-address-space/nodeJS.js";
import { nodesets } from "node-opcua-nodesets";

const file = process.argv[2];
const addressSpace = AddressSpace.create();
await generateAddressSpace(addressSpace, [nodesets.standard, file]);
const ns = addressSpace.getNamespaceIndex("urn:tank-twin:model");
const tankType = addressSpace.findObjectType("TankType", ns);
const level = addressSpace.findNode(`ns=${ns};s=TankType.level`);
const range = addressSpace.findNode(`ns=${ns};s=TankType.level.EURange`);
const units = addressSpace.findNode(`ns=${ns};s=TankType.level.EngineeringUnits`);
const modes = addressSpace.findNode(`ns=${ns};s=ControllerType.mode.EnumStrings`);
const step = addressSpace.findNode(`ns=${ns};s=SimulationType.Step`);
const children = tankType.getComponents().map((c) => c.browseName.name);
const result = {
  namespaceIndex: ns,
  nodes: addressSpace.getNamespace(ns)._nodeid_index.size,
  tankTypeChildren: children,
  levelTypeDefinition: level.typeDefinitionObj.browseName.name,
  levelDataType: level.dataType.toString(),
  euRange: range.readValue().value.value,
  engineeringUnits: {
    unitId: units.readValue().value.value.unitId,
    displayName: units.readValue().value.value.displayName.text,
  },
  modeStrings: modes.readValue().value.value.map((t) => t.text),
  stepIsMethod: step.nodeClass === 4, // NodeClass.Method
  stepInputs: step.getInputArguments().map((a) => a.name),
};
addressSpace.dispose();
console.log(JSON.stringify(result));
