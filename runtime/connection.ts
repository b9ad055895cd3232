/**
 * Connecting to NATS. Covers: the connection spec (servers, user/password, token, creds or
 * nkey seed file, TLS files) read from the environment in this one place, opening a connection
 * from a spec, and the embedded default: with no NATS_URL, a local `nats-server -js` with its
 * store in the run folder, stopped at close or at process exit. A spec is plain data so a node
 * agent can hand it to the actor processes it starts. Not: clustering of servers.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { credsAuthenticator, nkeyAuthenticator, nkeys, type ConnectionOptions, type NatsConnection } from "@nats-io/nats-core";
import { explainConnectError } from "./connection-errors.ts";
import { serversVerifyClients } from "./server-info.ts";
import { startNatsServer, type NatsServerHandle } from "./nats-server.ts";
import { removeServerFile, writeServerFile } from "./monitor-server-file.ts";

export interface ConnectionSpec {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** A `.creds` file (JWT + nkey seed), as `nsc` writes it. */
  credsFile?: string;
  /** A file holding an nkey seed (`SU…`). */
  nkeySeedFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** The variables read, with what each means; `azr doctor` and error messages can print this. */
export const CONNECTION_ENV = {
  NATS_URL: "server URL(s), comma-separated; unset = embedded nats-server",
  NATS_USER: "user name (with NATS_PASSWORD)",
  NATS_PASSWORD: "password",
  NATS_TOKEN: "authorization token",
  NATS_CREDS: "path of a .creds file",
  NATS_NKEY: "path of a file with an nkey seed",
  NATS_CA: "path of the CA certificate (TLS)",
  NATS_CERT: "path of the client certificate (TLS)",
  NATS_KEY: "path of the client key (TLS)",
} as const;

/** The spec the environment describes; undefined when NATS_URL is unset (embedded server). */
export function connectionSpecFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionSpec | undefined {
  if (!env.NATS_URL) return undefined;
  const spec: ConnectionSpec = { servers: env.NATS_URL.split(",").map((s) => s.trim()).filter(Boolean) };
  if (env.NATS_USER) Object.assign(spec, { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? "" });
  if (env.NATS_TOKEN) spec.token = env.NATS_TOKEN;
  if (env.NATS_CREDS) spec.credsFile = env.NATS_CREDS;
  if (env.NATS_NKEY) spec.nkeySeedFile = env.NATS_NKEY;
  if (env.NATS_CA || env.NATS_CERT || env.NATS_KEY) spec.tls = { caFile: env.NATS_CA, certFile: env.NATS_CERT, keyFile: env.NATS_KEY };
  return spec;
}

/** Reads a file named by one of the NATS_* settings; the error names the setting and the path. */
function readSetting(setting: keyof typeof CONNECTION_ENV, file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${setting} '${file}' (${CONNECTION_ENV[setting]}): ${(e as Error).message}`, { cause: e });
  }
}

/** The seed in NATS_NKEY's file, checked to be a user seed, and the public key it stands for. */
function readNkeySeed(file: string): { seed: Uint8Array; publicKey: string } {
  const seed = new TextEncoder().encode(new TextDecoder().decode(readSetting("NATS_NKEY", file)).trim());
  try {
    return { seed, publicKey: nkeys.fromSeed(seed).getPublicKey() };
  } catch (e) {
    throw new Error(`NATS_NKEY '${file}' does not hold an nkey seed (one line starting 'SU', as \`nk -gen user\` writes): ${(e as Error).message}`, { cause: e });
  }
}

function readCreds(file: string): Uint8Array {
  const creds = readSetting("NATS_CREDS", file);
  if (!new TextDecoder().decode(creds).includes("BEGIN NATS USER JWT")) {
    throw new Error(`NATS_CREDS '${file}' is not a .creds file (no 'BEGIN NATS USER JWT' block): use the file \`nsc generate creds\` writes`);
  }
  return creds;
}

/** The client's options for `spec`; every file it names is read (or checked) here, so a bad path fails with its setting named. */
export function connectionOptions(spec: ConnectionSpec, name?: string): ConnectionOptions {
  if (spec.credsFile && spec.nkeySeedFile) throw new Error("NATS_CREDS and NATS_NKEY are both set: use one");
  const o: ConnectionOptions = { servers: spec.servers, name, maxReconnectAttempts: -1 };
  if (spec.user !== undefined) Object.assign(o, { user: spec.user, pass: spec.pass });
  if (spec.token !== undefined) o.token = spec.token;
  if (spec.credsFile) o.authenticator = credsAuthenticator(readCreds(spec.credsFile));
  if (spec.nkeySeedFile) o.authenticator = nkeyAuthenticator(readNkeySeed(spec.nkeySeedFile).seed);
  if (spec.tls) {
    // The transport reads these itself, at each (re)connect; checked here for the clearer error.
    const { caFile, certFile, keyFile } = spec.tls;
    if (caFile) readSetting("NATS_CA", caFile);
    if (certFile) readSetting("NATS_CERT", certFile);
    if (keyFile) readSetting("NATS_KEY", keyFile);
    if (Boolean(certFile) !== Boolean(keyFile)) throw new Error("NATS_CERT and NATS_KEY go together (the client certificate and its key): set both or neither");
  }
  if (spec.tls || spec.servers.some((s) => s.startsWith("tls://"))) o.tls = { ...spec.tls };
  return o;
}

/**
 * How long a first connect may take before it fails (the client's own default). A server that
 * closes the connection after the TLS handshake (one verifying client certificates, to a client
 * without one) is only seen as this timeout by the client, which does not fail the pending
 * connect when the socket closes; openConnection asks such servers first (server-info.ts).
 */
export const CONNECT_TIMEOUT_MS = 20_000;

export async function openConnection(spec: ConnectionSpec, name?: string, o: { timeoutMs?: number } = {}): Promise<NatsConnection> {
  const options = { ...connectionOptions(spec, name), timeout: o.timeoutMs ?? CONNECT_TIMEOUT_MS };
  // TLS without a client certificate: the servers' INFO lines say (in a round trip) whether the
  // handshake is bound to be refused, which the connect would only report after its timeout. Asked
  // before connecting, not beside it: a connect left pending would hold the process for its timeout.
  if (options.tls && !spec.tls?.certFile && (await serversVerifyClients(spec.servers))) {
    throw new Error(
      `cannot connect to NATS at ${spec.servers.join(",")}: the server verifies client certificates (its INFO says tls_verify) and no client certificate is set: ` +
        `set NATS_CERT and NATS_KEY to a client certificate its CA signed`,
    );
  }
  try {
    return boundReconnectBuffer(await connect(options));
  } catch (e) {
    const publicKey = spec.nkeySeedFile ? readNkeySeed(spec.nkeySeedFile).publicKey : undefined;
    throw new Error(`cannot connect to NATS at ${spec.servers.join(",")}: ${explainConnectError(spec, e, publicKey)}`, { cause: e });
  }
}

/**
 * Bytes of messages a connection holds for the server while it is down (reconnecting). nats.js v3
 * has no bound of its own (nothing like nats.go's ReconnectBufSize): every publish made while the
 * server is gone is queued in memory until the next reconnect attempt, which then discards the
 * queue. A log flood or a stream of spans during an outage would so grow the agent and the actors
 * by tens of MiB a second. Past this, publishes are dropped and counted instead.
 */
export const RECONNECT_BUFFER_BYTES = 8 * 1024 * 1024;

/** The protocol bytes of one PUB besides its subject, reply and payload (an upper bound). */
const PUB_FRAMING_BYTES = 24;

interface Outage {
  since: number;
  server: string;
  /** Messages (and their bytes) queued in the client since its last reconnect attempt. */
  held: number;
  heldBytes: number;
  /** Messages lost so far: dropped over the bound, or queued and then discarded by a reconnect attempt. */
  lost: number;
  lostBytes: number;
}

interface PublishBound {
  outage?: Outage;
}

const bounds = new WeakMap<NatsConnection, PublishBound>();

function payloadBytes(payload: unknown): number {
  if (payload === undefined || payload === null) return 0;
  if (typeof payload === "string") return Buffer.byteLength(payload);
  return (payload as Uint8Array).byteLength ?? 0;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Bounds what `nc` holds while disconnected to `maxBytes` (see RECONNECT_BUFFER_BYTES), and once
 * it is back says (through `say`, default stderr, which for an actor is its log) how many
 * messages published meanwhile were lost. Publishing never throws for the bound: core NATS is
 * at-most-once, and a throw would reach every publisher in the runtime (replies, stream frames,
 * heartbeats), some in callbacks where it would end the process. Idempotent per connection.
 */
export function boundReconnectBuffer(nc: NatsConnection, maxBytes = RECONNECT_BUFFER_BYTES, say: (line: string) => void = (l) => console.warn(l)): NatsConnection {
  if (bounds.has(nc)) return nc;
  const b: PublishBound = {};
  bounds.set(nc, b);
  const publish = nc.publish.bind(nc);
  // Every publish of the client (requests, replies, JetStream) goes through nc.publish.
  nc.publish = (subject, payload, options) => {
    const o = b.outage;
    if (!o) return publish(subject, payload, options);
    // As queued: the payload and the `PUB <subject> [<reply>] <size>\r\n…\r\n` around it (headers, rare here, are not counted).
    const bytes = PUB_FRAMING_BYTES + subject.length + (options?.reply?.length ?? 0) + payloadBytes(payload);
    if (o.heldBytes + bytes > maxBytes) {
      o.lost++;
      o.lostBytes += bytes;
      return;
    }
    publish(subject, payload, options);
    o.held++;
    o.heldBytes += bytes;
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        b.outage ??= { since: Date.now(), server: s.server, held: 0, heldBytes: 0, lost: 0, lostBytes: 0 };
      } else if (s.type === "reconnecting" && b.outage) {
        // Each attempt starts by emptying the client's queue: what it held is gone.
        const o = b.outage;
        o.lost += o.held;
        o.lostBytes += o.heldBytes;
        o.held = o.heldBytes = 0;
      } else if (s.type === "reconnect" && b.outage) {
        const o = b.outage;
        b.outage = undefined;
        if (o.lost > 0) {
          say(
            `azr: the NATS connection to ${o.server} was down ${((Date.now() - o.since) / 1000).toFixed(1)} s; ${o.lost} message(s) (${mib(o.lostBytes)}) published meanwhile were lost ` +
              `(core NATS keeps nothing for a disconnected client, and azr holds at most ${mib(maxBytes)} while it reconnects)`,
          );
        }
      }
    }
  })().catch(() => {});
  return nc;
}

/**
 * Whether `nc` is known to be disconnected (reconnecting): what is published now is most likely
 * lost. Starts tracking a connection not opened by openConnection (false until its first outage).
 */
export function connectionDown(nc: NatsConnection): boolean {
  boundReconnectBuffer(nc);
  return bounds.get(nc)?.outage !== undefined;
}

export interface Connected {
  nc: NatsConnection;
  /** How other processes (actor children) connect to the same server. */
  spec: ConnectionSpec;
  /** The embedded server, when NATS_URL was unset. */
  server?: NatsServerHandle;
  /** Drains the connection and stops the embedded server. */
  close(): Promise<void>;
}

/**
 * Connects with `spec` (default: from the environment); without one, starts an embedded
 * `nats-server -js` whose store lives in `<runDir>/nats`.
 */
export async function connectOrEmbed(opts: { spec?: ConnectionSpec; runDir: string; name?: string; env?: NodeJS.ProcessEnv }): Promise<Connected> {
  const spec0 = opts.spec ?? connectionSpecFromEnv(opts.env);
  let server: NatsServerHandle | undefined;
  let spec: ConnectionSpec;
  if (spec0) {
    spec = spec0;
  } else {
    server = await startNatsServer({ storeDir: join(opts.runDir, "nats") });
    spec = { servers: [server.url] };
    // So `azr top` / `azr attach` in another terminal find this run's server without NATS_URL.
    writeServerFile(opts.runDir, { url: server.url, monitorUrl: server.monitorUrl, pid: server.pid });
  }
  // The server is our child: if this process exits without close(), do not leave it running.
  const onExit = () => server && process.kill(server.pid, "SIGTERM");
  if (server) process.once("exit", onExit);
  let nc: NatsConnection;
  try {
    nc = await openConnection(spec, opts.name);
  } catch (e) {
    await server?.stop();
    throw e;
  }
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
      if (server) {
        process.off("exit", onExit);
        removeServerFile(opts.runDir, server.pid);
        await server.stop();
      }
    })());
  return { nc, spec, server, close };
}
