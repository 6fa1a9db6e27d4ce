// pusher_roundtrip.mjs - drives stock pusher-js (Node build) against a pushi
// server for tests/test_pusher_js.py.
//
//   node pusher_roundtrip.mjs '<json config>'
//
// Config (JSON, first argument):
//   wsHost, wsPort       where the server listens
//   key                  the app key
//   authEndpoint         URL of the channel authorization endpoint
//   channels             {public, private, presence} channel names
//   clientEvents         client-* event names to bind on every channel
//                        (default ["client-ping", "client-wave"]; others are
//                        still reported, without metadata)
//   timeoutMs            hard timeout (default and maximum 20000)
//
// Prints one JSON object per line on stdout, one per observed step:
//   {"step":"connected","socket_id":...}
//   {"step":"subscribed","channel":...[,"members":n,"me":{id,info}]}
//   {"step":"member_added","channel":...,"user_id":...,"user_info":...}
//   {"step":"member_removed","channel":...,"user_id":...}
//   {"step":"event","channel":...,"event":...,"data":...}
//   {"step":"client_event","channel":...,"event":...,"data":...,"user_id":...}
//   {"step":"client_event_sent","channel":...,"event":"client-hello","data":...}
//   {"step":"done"} / {"step":"error",...}
//
// Scenario: connect and subscribe the three channels. When a client event
// arrives on the private channel, answer it with client-hello on that
// channel (so the sender is known to be subscribed). When a server event
// named "done" arrives on the public channel, disconnect and exit 0. Any
// subscription error, connection error or the timeout exits 1.

import Pusher from "pusher-js";

const HARD_TIMEOUT_MS = 20000;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let finished = false;
let pusher = null;

function finish(code, extra) {
  if (finished) return;
  finished = true;
  if (extra) emit(extra);
  try {
    if (pusher) pusher.disconnect();
  } catch (e) {
    // exiting anyway
  }
  // Let stdout drain before leaving.
  process.stdout.write("", () => process.exit(code));
}

function fail(reason, details) {
  finish(1, { step: "error", reason, ...(details === undefined ? {} : { details }) });
}

let config;
try {
  config = JSON.parse(process.argv[2] || "");
} catch (e) {
  process.stderr.write("usage: node pusher_roundtrip.mjs '<json config>'\n");
  process.exit(2);
}
for (const field of ["wsHost", "wsPort", "key", "authEndpoint", "channels"]) {
  if (config[field] === undefined) {
    process.stderr.write(`config is missing ${field}\n`);
    process.exit(2);
  }
}
const { public: publicName, private: privateName, presence: presenceName } = config.channels;
const clientEvents = config.clientEvents || ["client-ping", "client-wave"];

const timeoutMs = Math.min(Number(config.timeoutMs) || HARD_TIMEOUT_MS, HARD_TIMEOUT_MS);
// Not unref()ed: the process always ends through finish(), never by idling out.
setTimeout(() => fail("timeout", `${timeoutMs} ms`), timeoutMs);

process.on("uncaughtException", (e) => fail("exception", String(e && e.stack ? e.stack : e)));
process.on("unhandledRejection", (e) => fail("exception", String(e)));

// pusher-js logs through Pusher.log; keep it off stdout.
Pusher.log = (msg) => process.stderr.write(`[pusher-js] ${msg}\n`);

pusher = new Pusher(config.key, {
  cluster: "local", // required by the options type; wsHost wins
  wsHost: config.wsHost,
  wsPort: config.wsPort,
  wssPort: config.wsPort,
  // config.tls: connect with wss:// (trust comes from NODE_EXTRA_CA_CERTS)
  forceTLS: Boolean(config.tls),
  enabledTransports: ["ws"], // "ws" is also the wss:// transport under forceTLS
  disableStats: true,
  channelAuthorization: {
    endpoint: config.authEndpoint,
    transport: "ajax",
  },
});

pusher.connection.bind("connected", () => {
  emit({ step: "connected", socket_id: pusher.connection.socket_id });
});
pusher.connection.bind("error", (err) => fail("connection_error", err));
pusher.connection.bind("failed", () => fail("connection_failed"));
pusher.connection.bind("unavailable", () => fail("connection_unavailable"));

function watch(channel) {
  channel.bind("pusher:subscription_succeeded", (members) => {
    const line = { step: "subscribed", channel: channel.name };
    if (channel.name.startsWith("presence-")) {
      line.members = members.count;
      line.me = members.me;
      const ids = [];
      members.each((m) => ids.push(m.id));
      line.member_ids = ids.sort();
    }
    emit(line);
  });
  channel.bind("pusher:subscription_error", (err) =>
    fail("subscription_error", { channel: channel.name, error: err }),
  );
  channel.bind("pusher:member_added", (member) =>
    emit({ step: "member_added", channel: channel.name, user_id: member.id, user_info: member.info }),
  );
  channel.bind("pusher:member_removed", (member) =>
    emit({ step: "member_removed", channel: channel.name, user_id: member.id }),
  );
  // Client events are bound by name, as an application does: only named
  // bindings get the metadata (user_id on presence channels).
  for (const event of clientEvents) {
    channel.bind(event, (data, metadata) => onClientEvent(channel, event, data, metadata));
  }
  channel.bind_global((event, data) => {
    if (event.startsWith("pusher:") || event.startsWith("pusher_internal:")) return;
    if (event.startsWith("client-")) {
      if (!clientEvents.includes(event)) onClientEvent(channel, event, data, undefined);
      return;
    }
    emit({ step: "event", channel: channel.name, event, data });
    if (channel.name === publicName && event === "done") finish(0, { step: "done" });
  });
}

function onClientEvent(channel, event, data, metadata) {
  const line = { step: "client_event", channel: channel.name, event, data };
  if (metadata && metadata.user_id) line.user_id = metadata.user_id;
  emit(line);
  if (channel.name === privateName && event !== "client-hello") {
    const reply = { from: "pusher-js", reply_to: data };
    if (!channel.trigger("client-hello", reply)) {
      fail("client_event_not_sent", { channel: channel.name });
      return;
    }
    emit({ step: "client_event_sent", channel: channel.name, event: "client-hello", data: reply });
  }
}

for (const name of [publicName, privateName, presenceName]) {
  watch(pusher.subscribe(name));
}
