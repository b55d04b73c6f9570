// Notification counter for bench/opcua.py (node-opcua: decodes faster than a Python client).
// usage: node bench_counter.mjs <endpoint> <options.json>
//   options: nodeIds (array of NodeId strings), counter (NodeId of a cycle counter),
//            windows (count), seconds (per window), warmup (s)
// Prints "MARK {json}" at the start and at the end of every window, then exits.
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  ClientSubscription,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
} from "node-opcua-client";
import { readFileSync } from "node:fs";

const [endpoint, optionsFile] = process.argv.slice(2);
const options = JSON.parse(readFileSync(optionsFile, "utf8"));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const client = OPCUAClient.create({
  endpointMustExist: false,
  connectionStrategy: { maxRetry: 0 },
  securityMode: MessageSecurityMode.None,
  securityPolicy: SecurityPolicy.None,
  requestedSessionTimeout: 600000,
  transportSettings: { maxMessageSize: 256 * 1024 * 1024, maxChunkCount: 100000 },
});
await client.connect(endpoint);
const session = await client.createSession();
const subscription = ClientSubscription.create(session, {
  requestedPublishingInterval: 100,
  requestedLifetimeCount: 6000,
  requestedMaxKeepAliveCount: 20,
  maxNotificationsPerPublish: 0,
  publishingEnabled: true,
  priority: 1,
});
let notifications = 0;
const chunk = 5000;
for (let i = 0; i < options.nodeIds.length; i += chunk) {
  const items = options.nodeIds.slice(i, i + chunk)
    .map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value }));
  const group = ClientMonitoredItemGroup.create(
    subscription, items, { samplingInterval: 100, queueSize: 1, discardOldest: true },
    TimestampsToReturn.Both);
  group.on("changed", () => { notifications += 1; });
}
await sleep(options.warmup * 1000);

async function counter() {
  const dv = await session.read({ nodeId: options.counter, attributeId: AttributeIds.Value });
  const value = dv.value.value;
  return Array.isArray(value) ? Number(value[0]) * 2 ** 32 + Number(value[1]) : Number(value);
}

const mark = async () => {
  const at = { notifications, cycles: await counter(), time: Date.now() / 1000 };
  console.log("MARK " + JSON.stringify(at));
};
await mark();
for (let w = 0; w < options.windows; w += 1) {
  await sleep(options.seconds * 1000);
  await mark();
}
await subscription.terminate();
await session.close();
await client.disconnect();
process.exit(0);
