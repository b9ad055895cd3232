/**
 * What an actor process serves besides its methods, for operators: `azr attach` (a REPL on the
 * instance) and the process figures of `azr top`. One call from actor-main.ts starts both.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { serveActorRepl } from "./attach-repl.ts";
import { serveProcessFigures } from "./monitor-process.ts";

export interface ActorOps {
  stop(): void;
}

export async function serveActorOps(o: { nc: NatsConnection; cluster: string; name: string; instance: object }): Promise<ActorOps> {
  const repl = await serveActorRepl(o);
  const figures = serveProcessFigures(o.nc, o.cluster, o.name, () => repl.sessions);
  await o.nc.flush();
  return {
    stop: () => {
      repl.stop(`actor '${o.name}' is stopping`);
      figures.unsubscribe();
    },
  };
}
