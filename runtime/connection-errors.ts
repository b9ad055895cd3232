/**
 * Turning a failed NATS connect into a sentence that names what to fix. The client's own
 * errors ("Authorization Violation", "unable to verify the first certificate") say what went
 * wrong but not which of the NATS_* settings is to blame; this module knows which credentials
 * the spec presented and points at the one to check. Not: opening connections (connection.ts).
 */
import { AuthorizationError } from "@nats-io/nats-core";
import type { ConnectionSpec } from "./connection.ts";

/** Node's codes for a server certificate that did not verify against the trusted CAs. */
const UNTRUSTED_CERT_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/** The first error in the cause chain with a `code` (node's TLS and socket errors carry one). */
function errorCode(e: unknown): string | undefined {
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, depth = 0; x && depth < 5; x = x.cause as typeof x, depth++) {
    if (typeof x.code === "string") return x.code;
  }
  return undefined;
}

function isAuthFailure(e: unknown): boolean {
  return e instanceof AuthorizationError || /authorization violation|authentication/i.test((e as Error)?.message ?? "");
}

/** Which credential the server refused, and where it came from. */
function refusedCredential(spec: ConnectionSpec, publicNkey?: string): string {
  if (spec.credsFile) return `the server refused the user JWT in NATS_CREDS '${spec.credsFile}': check that the file is current and that its account is one the server trusts`;
  if (spec.nkeySeedFile) {
    const who = publicNkey ? ` (public key ${publicNkey})` : "";
    return `the server refused the nkey in NATS_NKEY '${spec.nkeySeedFile}'${who}: check that the file holds the seed of a user the server lists (authorization.users[].nkey)`;
  }
  if (spec.token !== undefined) return "the server refused the token: check NATS_TOKEN";
  if (spec.user !== undefined) return `the server refused user '${spec.user}': check NATS_USER and NATS_PASSWORD`;
  return "the server requires credentials and none were given: set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_NKEY or NATS_CREDS";
}

/**
 * The client reports only "timeout" when the server closes the connection after the TLS
 * handshake — which is what a server that verifies client certificates does to a client without
 * an acceptable one — so the likely causes are listed by what the spec presented.
 */
function handshakeTimeout(spec: ConnectionSpec): string {
  const tls = Boolean(spec.tls) || spec.servers.some((s) => s.startsWith("tls://"));
  const elsewise = "else check that NATS_URL names a NATS client port, and the server's log";
  if (tls && spec.tls?.certFile) {
    return `no NATS handshake completed; the server may have refused the client certificate in NATS_CERT '${spec.tls.certFile}': check that it is signed by a CA the server trusts (its tls.ca_file) — ${elsewise}`;
  }
  if (tls) return `no NATS handshake completed; a TLS server that verifies clients closes connections without a certificate: set NATS_CERT and NATS_KEY to a client certificate its CA signed — ${elsewise}`;
  return `no NATS handshake completed: check that NATS_URL names a NATS client port, and the server's log (it may refuse the connection, e.g. an account at its connection limit)`;
}

/**
 * What to fix, for an error from connecting with `spec`. `publicNkey` (when an nkey seed was
 * used) lets the message say which key the server did not know.
 */
export function explainConnectError(spec: ConnectionSpec, e: unknown, publicNkey?: string): string {
  const code = errorCode(e);
  const message = (e as Error)?.message ?? String(e);
  // The server's own words first: they are what its log and its docs use.
  if (isAuthFailure(e)) return `${message}: ${refusedCredential(spec, publicNkey)}`;
  if (code && UNTRUSTED_CERT_CODES.has(code)) {
    return spec.tls?.caFile
      ? `the server's TLS certificate is not signed by the CA in NATS_CA '${spec.tls.caFile}' (${message}): set NATS_CA to the CA certificate that signed the server's`
      : `the server's TLS certificate could not be verified (${message}): set NATS_CA to the file of the CA certificate that signed it`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return `the server's TLS certificate does not name the host in NATS_URL (${message}): connect by a name the certificate lists`;
  if (code === "CERT_HAS_EXPIRED") return `the server's TLS certificate has expired (${message}): renew it on the server`;
  if (/tls/i.test(message) && /required|not available|not supported/i.test(message)) {
    return `${message}: the client and the server disagree about TLS — set NATS_CA (and NATS_CERT/NATS_KEY when the server verifies clients) for a TLS server, or unset them for a plain one`;
  }
  if ((e as Error)?.name === "TimeoutError") return `${message}: ${handshakeTimeout(spec)}`;
  if (code === "ECONNREFUSED") return `${message}: nothing listens there — check NATS_URL and that nats-server runs`;
  return `${message} (check NATS_URL and its credentials)`;
}
