/** The failure converter pair and the error classes, without a server. */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { decode, encode } from "../../runtime/codec.ts";
import { ActorDiedError, ActorExistsError, ActorMethodError, errorToWire, wireToError } from "../../runtime/errors.ts";

describe("errors across the wire", () => {
  test("name, message, stack and the cause chain survive an encode/decode round trip", () => {
    const root = new TypeError("bad shape");
    const e = new Error("step failed", { cause: root });
    const back = wireToError("learner", "step", decode(encode(errorToWire(e))));
    assert.ok(back instanceof ActorMethodError);
    assert.equal(back.name, "Error");
    assert.equal(back.message, "step failed");
    assert.match(back.remoteStack, /step failed/);
    assert.ok(back.cause instanceof ActorMethodError);
    assert.equal((back.cause as ActorMethodError).name, "TypeError");
    assert.equal((back.cause as ActorMethodError).message, "bad shape");
  });

  test("an error's plain-data fields travel with it; non-data and oversized ones stay behind", () => {
    const e = Object.assign(new Error("open failed"), {
      code: "ENOENT",
      errno: -2,
      detail: { paths: ["/a", "/b"], retry: false },
      socket: new Map([["x", 1]]), // not plain data
      huge: "x".repeat(10_000), // over the size cap
      nan: Number.NaN, // msgpack-safe but not JSON data
    });
    const back = wireToError("executor", "run", decode(encode(errorToWire(e))));
    assert.deepEqual(back.data, { code: "ENOENT", errno: -2, detail: { paths: ["/a", "/b"], retry: false } });
    // A remote error that is re-thrown by another actor keeps them.
    const again = wireToError("driver", "step", decode(encode(errorToWire(back))));
    assert.deepEqual(again.data, back.data);
    assert.deepEqual(wireToError("a", "m", decode(encode(errorToWire(new Error("plain"))))).data, {});
  });

  test("a runtime error's constructor fields travel: ActorExistsError names the actor, its state and node", () => {
    const back = wireToError("node-agent", "spawnActor", decode(encode(errorToWire(new ActorExistsError("learner", "alive", "n1")))));
    assert.deepEqual(back.data, { actor: "learner", state: "alive", node: "n1" });
  });

  test("a thrown non-Error value becomes an error that shows the value", () => {
    const w = errorToWire({ reason: "nope" });
    assert.equal(w.name, "NonErrorThrown");
    assert.match(w.message, /"reason":"nope"/);
  });

  test("a reply that is not a WireError is reported as such, not as undefined", () => {
    const e = wireToError("a", "m", 42);
    assert.equal(e.name, "MalformedErrorReply");
    assert.equal(e.code, "INTERNAL");
  });

  test("instanceof works by symbol marker, for errors built by another copy of the module", () => {
    const foreign = Object.assign(new Error("x"), { [Symbol.for("azr.ActorDiedError")]: true });
    assert.ok(foreign instanceof ActorDiedError);
    assert.ok(!(new Error("plain") instanceof ActorDiedError));
    assert.ok(new ActorDiedError("a", "gone") instanceof ActorDiedError);
    assert.ok(new ActorDiedError("a", "gone") instanceof Error);
  });
});
