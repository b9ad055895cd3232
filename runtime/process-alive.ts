/**
 * Whether a process id is in use on this machine: signal 0 checks without signalling. EPERM means
 * it exists but is another user's. A leaf module (no imports); model/ gets it passed in (it does not import runtime/).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
