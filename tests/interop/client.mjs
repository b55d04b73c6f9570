// node-opcua-client (an independent stack) against the twin's OPC UA server.
// usage: node client.mjs <endpoint> <scenario> <options as JSON>
// Prints one JSON line with what it saw; the Python tests assert on it.
import {
  AttributeIds,
  BrowseDirection,
  ClientMonitoredItem,
  ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  DeadbandType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  constructEventFilter,
} from "node-opcua-client";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";

const [endpoint, scenario, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
const ns = options.ns ?? 2;
const id = (ident) => `ns=${ns};s=${ident}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function connect() {
  const settings = {
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    securityMode: MessageSecurityMode[options.mode ?? "None"],
    securityPolicy: SecurityPolicy[options.policy ?? "None"],
    requestedSessionTimeout: 60000,
  };
  if (options.pki) {
    settings.clientCertificateManager = new OPCUACertificateManager({
      rootFolder: options.pki,
      automaticallyAcceptUnknownCertificate: true, // our server's self-signed certificate
    });
    await settings.clientCertificateManager.initialize();
  }
  if (options.certificate) {
    settings.certificateFile = options.certificate;
    settings.privateKeyFile = options.privateKey;
    settings.applicationUri = options.applicationUri;
  }
  const client = OPCUAClient.create(settings);
  await client.connect(endpoint);
  const identity = options.user
    ? { type: UserTokenType.UserName, userName: options.user, password: options.password }
    : { type: UserTokenType.Anonymous };
  try {
    const session = await client.createSession(identity);
    return { client, session };
  } catch (err) {
    await client.disconnect();
    throw err;
  }
}

const name = (statusCode) => statusCode.name;

async function write(session, ident, dataType, value) {
  const status = await session.write({
    nodeId: id(ident),
    attributeId: AttributeIds.Value,
    value: { value: { dataType, value } },
  });
  return name(status);
}

async function call(session, object, method, inputArguments = []) {
  const result = await session.call({ objectId: id(object), methodId: id(method), inputArguments });
  return name(result.statusCode);
}

async function browseNames(session, ident) {
  const result = await session.browse({
    nodeId: id(ident),
    browseDirection: BrowseDirection.Forward,
    referenceTypeId: "HierarchicalReferences",
    includeSubtypes: true,
    resultMask: 63,
  });
  return [...new Set(result.references.map((r) => r.browseName.name))];
}

async function watch(session, items, seconds, during) {
  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: 100,
    requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 1,
  });
  const seen = {};
  for (const item of items) {
    const parameters = { samplingInterval: 100, discardOldest: true, queueSize: 1 };
    if (item.deadband) {
      parameters.filter = new DataChangeFilter({
        trigger: DataChangeTrigger.StatusValue,
        deadbandType: DeadbandType.Absolute,
        deadbandValue: item.deadband,
      });
    }
    const monitored = ClientMonitoredItem.create(
      subscription,
      { nodeId: id(item.ident), attributeId: AttributeIds.Value },
      parameters,
      TimestampsToReturn.Both,
    );
    seen[item.key] = [];
    monitored.on("changed", (dv) => seen[item.key].push(dv.value.value));
  }
  await sleep(300);
  await during();
  await sleep(seconds * 1000);
  await subscription.terminate();
  return seen;
}

async function basic(session) {
  const out = {};
  out.plant = await browseNames(session, "Plant");
  out.tank = await browseNames(session, "T101");
  out.controller = await browseNames(session, "T101.Controller");
  const level = await session.read({ nodeId: id("T101.level"), attributeId: AttributeIds.Value });
  out.level = { value: level.value.value, status: name(level.statusCode),
                hasSourceTimestamp: level.sourceTimestamp !== null };
  const range = await session.read({ nodeId: id("T101.level.EURange"),
                                     attributeId: AttributeIds.Value });
  out.euRange = { low: range.value.value.low, high: range.value.value.high };
  const units = await session.read({ nodeId: id("T101.level.EngineeringUnits"),
                                     attributeId: AttributeIds.Value });
  const eu = units.value.value;
  out.units = { unitId: eu.unitId, displayName: eu.displayName.text, namespaceUri: eu.namespaceUri };
  out.writes = {
    good: await write(session, "T101.setpoint", DataType.Double, 3.0),
    float: await write(session, "T101.inlet_flow", DataType.Float, 1.5),
    integer: await write(session, "T102.inlet_flow", DataType.Int32, 1),
    outOfRange: await write(session, "T101.setpoint", DataType.Double, 9.0),
    nan: await write(session, "T101.setpoint", DataType.Double, NaN),
    mismatch: await write(session, "T101.setpoint", DataType.String, "high"),
    readOnly: await write(session, "T101.level", DataType.Double, 1.0),
    role: await write(session, "T101.gain", DataType.Double, -2.0),
    state: await write(session, "T101.valve_command", DataType.Double, 0.5),
  };
  await sleep(300);
  const setpoint = await session.read({ nodeId: id("T101.setpoint"),
                                        attributeId: AttributeIds.Value });
  out.setpointAfter = setpoint.value.value;
  out.changes = await watch(
    session,
    [{ key: "level", ident: "T102.level" },
     { key: "deadband", ident: "T101.setpoint", deadband: 0.5 }],
    1.2,
    async () => {
      for (const value of [3.2, 3.4, 3.7, 3.8, 4.3]) {
        await write(session, "T101.setpoint", DataType.Double, value);
        await sleep(150);
      }
    },
  );
  out.calls = {
    reset: await call(session, "T101", "T101.Reset"),
    stepWhileRunning: await call(session, "Simulation", "Simulation.Step",
                                 [{ dataType: DataType.UInt32, value: 2 }]),
  };
  return out;
}

async function roles(session) {
  return {
    setpoint: await write(session, "T101.setpoint", DataType.Double, 2.0),
    gain: await write(session, "T101.gain", DataType.Double, -1.5),
    reset: await call(session, "T101", "T101.Reset"),
    pause: await call(session, "Simulation", "Simulation.Pause"),
    step: await (async () => {
      await sleep(300);
      return call(session, "Simulation", "Simulation.Step",
                  [{ dataType: DataType.UInt32, value: 2 }]);
    })(),
    resume: await call(session, "Simulation", "Simulation.Resume"),
  };
}

// History: raw values of a level; alarms: the retained condition after ConditionRefresh,
// then Acknowledge with its EventId and the acknowledged event that follows.
async function historyAndAlarm(session) {
  const out = {};
  const end = new Date();
  const history = await session.readHistoryValue(id("T101.level"), new Date(end - 3600e3), end);
  out.historyStatus = name(history.statusCode);
  out.historyValues = (history.historyData?.dataValues ?? []).map((dv) => dv.value.value);
  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: 100, requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 10, maxNotificationsPerPublish: 0,
    publishingEnabled: true, priority: 1,
  });
  await new Promise((resolve) => subscription.on("started", resolve));
  const fields = ["EventId", "SourceName", "Severity", "Retain", "ActiveState.Id",
                  "AckedState.Id", "ConditionId"];
  const events = [];
  const monitored = ClientMonitoredItem.create(
    subscription,
    { nodeId: "i=2253", attributeId: AttributeIds.EventNotifier },
    { queueSize: 100, filter: constructEventFilter(fields), discardOldest: true },
    TimestampsToReturn.Both,
  );
  monitored.on("changed", (values) => {
    const event = {};
    fields.forEach((field, i) => { event[field] = values[i].value; });
    events.push(event);
  });
  await sleep(300);
  const refresh = await session.call({
    objectId: "i=2782", methodId: "i=3875",
    inputArguments: [{ dataType: DataType.UInt32, value: subscription.subscriptionId }],
  });
  out.refresh = name(refresh.statusCode);
  await sleep(1000);
  const raised = events.find((e) => e.SourceName === "T101" && e["ActiveState.Id"] === true);
  out.raised = raised ? { severity: raised.Severity, acked: raised["AckedState.Id"],
                          retain: raised.Retain } : null;
  if (raised) {
    const ack = await session.call({
      objectId: raised.ConditionId, methodId: "i=9111",
      inputArguments: [
        { dataType: DataType.ByteString, value: raised.EventId },
        { dataType: DataType.LocalizedText, value: { text: "seen from node-opcua" } },
      ],
    });
    out.acknowledge = name(ack.statusCode);
    const again = await session.call({
      objectId: raised.ConditionId, methodId: "i=9111",
      inputArguments: [
        { dataType: DataType.ByteString, value: Buffer.from("not-an-event-id") },
        { dataType: DataType.LocalizedText, value: { text: "" } },
      ],
    });
    out.acknowledgeUnknown = name(again.statusCode);
    await sleep(1000);
    out.ackedEvent = events.some((e) => e.SourceName === "T101" && e["AckedState.Id"] === true);
  }
  await subscription.terminate();
  return out;
}

const scenarios = {
  basic, roles, historyAndAlarm, connect: async () => ({ connected: true }),
};
let result;
try {
  const { client, session } = await connect();
  try {
    result = await scenarios[scenario](session);
  } finally {
    await session.close();
    await client.disconnect();
  }
} catch (err) {
  result = { error: String(err && err.message ? err.message : err) };
}
console.log(JSON.stringify(result));
process.exit(0);
