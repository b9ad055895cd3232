/**
 * Which Python runs our workers (executor, torch engine). `python3` on PATH may be an interpreter
 * without Debian's packages, so the choice is deliberate: AZR_PYTHON, else /usr/bin/python3,
 * else `python3` — and the reason is kept so `azr doctor` can say why.
 */
import { existsSync } from "node:fs";

export interface PythonChoice {
  path: string;
  reason: string;
}

export function findPython(env: NodeJS.ProcessEnv = process.env): PythonChoice {
  if (env.AZR_PYTHON) return { path: env.AZR_PYTHON, reason: "AZR_PYTHON is set" };
  if (existsSync("/usr/bin/python3")) return { path: "/usr/bin/python3", reason: "Debian's /usr/bin/python3 (has python3-* packages)" };
  return { path: "python3", reason: "python3 on PATH (AZR_PYTHON unset, no /usr/bin/python3)" };
}
