/**
 * Entry point of an actor process (started by a node agent with `node --import tsx`). Receives
 * its ChildSpec over IPC, connects, imports the class from its module, constructs it, restores
 * the saved state (`loadState`), serves it, then reports ready and sends heartbeats. Exits when
 * the agent goes away (IPC disconnect; parent-watchdog.ts kills it if that cannot run) or on
 * SIGTERM after draining; SIGINT is ignored (see below). Not: restarts (the agent).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { ActorClient } from "./client.ts";
import { openConnection } from "./connection.ts";
import { describeMethods, type ActorClass } from "./define.ts";
import { ActorHost } from "./host.ts";
import { serveActorOps, type ActorOps } from "./attach-actor.ts";
import { lookupActor } from "./lookup.ts";
import { Registry } from "./registry.ts";
import { StateStore } from "./state-store.ts";
import { startProcessTelemetry } from "./telemetry-local.ts";
import { HEARTBEAT_MS, type ChildMessage, type ChildSpec, type ParentMessage } from "./actor-process.ts";
import { watchParent } from "./parent-watchdog.ts";

function send(m: ChildMessage): void {
  if (process.connected) process.send!(m);
}

async function main(spec: ChildSpec): Promise<void> {
  // The full OTel SDK (~1 s of start-up) only when OTEL_* configures an exporter; else the
  // lighter local step tracing, loaded while the connection opens.
  const starting = startProcessTelemetry(`azr-actor-${spec.name}`);
  let telemetry: Awaited<typeof starting> | undefined;
  let nc: NatsConnection | undefined;
  let host: ActorHost | undefined;
  let ops: ActorOps | undefined;
  const shutdown = async (code: number, orphaned = false) => {
    ops?.stop();
    await host?.stop().catch(() => undefined);
    // Before the drain: local spans still waiting go out on this connection.
    await telemetry?.shutdown().catch(() => undefined);
    await nc?.drain().catch(() => undefined);
    if (orphaned) {
      // No agent is left to end what this actor started (it kills our process group once we
      // have exited): end the group ourselves, this process with it. Not a group leader
      // (started by hand): only this process exits.
      try {
        process.kill(-process.pid, "SIGKILL");
      } catch {
        /* fall through to a plain exit */
      }
    }
    process.exit(code);
  };
  process.once("SIGTERM", () => void shutdown(0));
  // The agent is our supervisor: without it no one would restart or stop us.
  process.once("disconnect", () => void shutdown(0, true));
  try {
    [nc, telemetry] = await Promise.all([openConnection(spec.connection, `azr-actor-${spec.name}`), starting]);
    telemetry.attach(nc, spec.cluster);
    const mod = (await import(spec.moduleUrl)) as Record<string, unknown>;
    const Cls = mod[spec.exportName] as ActorClass | undefined;
    if (typeof Cls !== "function") {
      throw new Error(`module ${spec.moduleUrl} has no export named '${spec.exportName}': export the class under its own name`);
    }
    const instance = new Cls(...spec.args) as { loadState?: (s: unknown) => unknown };
    const [registry, states, client] = await Promise.all([
      Registry.open(nc, spec.cluster),
      StateStore.open(nc, spec.cluster),
      ActorClient.start(nc, spec.cluster),
    ]);
    if (typeof instance.loadState === "function") {
      const saved = await states.load(spec.name);
      if (saved !== undefined) await instance.loadState(saved);
    }
    const methods = describeMethods(instance, spec.concurrent);
    host = await ActorHost.start({
      nc,
      cluster: spec.cluster,
      name: spec.name,
      instance,
      methods,
      checkpoint: spec.checkpoint,
      persistState: (s) => states.save(spec.name, s),
      getActor: (name) => lookupActor(registry, client, name),
      payloads: client.payloads,
    });
    // `azr attach <actor>` (a REPL on this instance) and the process figures `azr top` shows.
    ops = await serveActorOps({ nc, cluster: spec.cluster, name: spec.name, instance });
    send({ t: "ready", methods });
    setInterval(() => send({ t: "hb" }), HEARTBEAT_MS);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ t: "failed", name: err.name, message: err.message, stack: err.stack });
    console.error(err);
    await shutdown(1);
  }
}

// Not left running as an orphan when the agent dies while this process is busy or stuck.
watchParent();

// SIGINT never stops an actor (the agent stops it with SIGTERM; a terminal's Ctrl-C does not
// reach it, as it leads its own process group). It is what `azr attach` uses to interrupt an
// evaluation that runs too long (attach-repl.ts): one that arrives when no evaluation is running
// any more, or a stray `kill -INT`, must not end the actor and its in-memory state. Node's
// default for SIGINT is to exit; a listener replaces that. The REPL takes it off while it
// evaluates (its own SIGINT watchdog is in charge then) and puts it back after.
process.on("SIGINT", () => {});

process.once("message", (m: ParentMessage) => {
  if (m.t === "start") void main(m.spec);
});
