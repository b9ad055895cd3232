/**
 * The INFO line a NATS server sends first on a new client connection, read over a bare TCP
 * socket. Used to tell a client early what the connect itself only shows as a timeout: a TLS
 * server that verifies client certificates (`tls_verify`) closes the connection of a client that
 * has none right after the handshake, and nats.js does not fail its pending first connect when
 * the socket closes — it waits its whole connect timeout (20 s). Not: the connection itself.
 *
 * A server configured with `handshake_first` sends nothing before TLS: the read times out and
 * says nothing (undefined), and the caller falls back to the ordinary connect.
 */
import { Socket } from "node:net";

const DEFAULT_PORT = 4222;
/** INFO lines are a few hundred bytes; a server that sends more before a newline is not one. */
const MAX_INFO_BYTES = 64 * 1024;

/** Host and port of a NATS server URL as NATS_URL may give it (`tls://h:p`, `nats://h`, `h:p`). */
export function serverAddress(server: string): { host: string; port: number } | undefined {
  try {
    const u = new URL(server.includes("://") ? server : `nats://${server}`);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1"); // IPv6 literals come bracketed
    return host ? { host, port: u.port ? Number(u.port) : DEFAULT_PORT } : undefined;
  } catch {
    return undefined;
  }
}

/** The server's INFO object, or undefined when none arrives within `timeoutMs` (or the line is not INFO). */
export function readServerInfo(server: string, timeoutMs = 3000): Promise<Record<string, unknown> | undefined> {
  const addr = serverAddress(server);
  if (!addr) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = new Socket();
    let buf = "";
    const done = (v: Record<string, unknown> | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    // Both stay referenced: a process whose top-level await waits on this must not see its loop empty.
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.setEncoding("latin1");
    socket.on("error", () => done(undefined));
    socket.on("close", () => done(undefined));
    socket.on("data", (chunk: string) => {
      buf += chunk;
      const end = buf.indexOf("\r\n");
      if (end < 0) {
        if (buf.length > MAX_INFO_BYTES) done(undefined);
        return;
      }
      const line = buf.slice(0, end);
      if (!line.startsWith("INFO ")) return done(undefined);
      try {
        const info: unknown = JSON.parse(line.slice(5));
        done(info && typeof info === "object" ? (info as Record<string, unknown>) : undefined);
      } catch {
        done(undefined);
      }
    });
    socket.connect(addr.port, addr.host);
  });
}

/**
 * True when every server of `servers` that answered says it verifies client certificates
 * (`tls_verify`) and at least one answered; false otherwise (one that does not verify, or none
 * answered in time): only then may a client without a certificate be told so at once.
 */
export async function serversVerifyClients(servers: readonly string[], timeoutMs?: number): Promise<boolean> {
  const infos = (await Promise.all(servers.map((s) => readServerInfo(s, timeoutMs)))).filter((i) => i !== undefined);
  return infos.length > 0 && infos.every((i) => i.tls_verify === true);
}
