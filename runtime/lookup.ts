/**
 * Name → handle: reads the actor's method table from the registry and builds a typed handle on
 * a client. Shared by `cluster.getActor` and `callContext().getActor` inside actors.
 */
import type { ActorClient } from "./client.ts";
import { ActorNotFoundError } from "./errors.ts";
import { createHandle, type Handle } from "./handle.ts";
import type { Registry } from "./registry.ts";

export async function lookupActor<T extends object>(registry: Registry, client: ActorClient, name: string): Promise<Handle<T>> {
  const e = await registry.get(name);
  if (!e) throw new ActorNotFoundError(name, client.cluster);
  return createHandle<T>({ name, methods: e.methods, client, options: {} });
}
