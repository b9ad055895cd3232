/**
 * Durable folder writes. Checkpoints are written into a temp folder and renamed into place, so a
 * killed process leaves either the old checkpoint or the new one. That holds against a process
 * crash only: after an OS crash or a power cut, ext4/xfs may have recorded the rename while the
 * files' data was still in the page cache, and the "complete" checkpoint reads back as zeros or
 * cut short. Flushing every file and folder of the temp tree before the rename, and the parent
 * folder after it, closes that window (the write-fsync-rename-fsync sequence of SQLite and
 * PostgreSQL).
 *
 * fsync flushes a file's dirty pages whichever process wrote them, so the driver can flush what a
 * learner on the same host wrote (the torch worker included). Filesystems that refuse fsync on a
 * folder (EINVAL, EISDIR on some network and FUSE mounts) are skipped for folders only.
 *
 * Covers: flushing a tree and a folder entry, sync and async. Not: writing the files.
 */
import { closeSync, fsyncSync, openSync, readdirSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";

/** What was flushed, for a caller that reports it. */
export interface SyncedTree {
  files: number;
  folders: number;
}

/** Errors from fsync on a folder that mean "this filesystem does not do that", not a failed write. */
const FOLDER_SYNC_UNSUPPORTED = new Set(["EINVAL", "EISDIR", "EPERM", "ENOTSUP", "EBADF"]);

/** The tree's files, then its folders deepest first (a folder is flushed after the entries in it). */
function listTree(root: string): { files: string[]; folders: string[] } {
  const files: string[] = [];
  const folders: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
    folders.push(dir);
  };
  walk(root);
  return { files, folders };
}

function syncPathSync(path: string, folder: boolean): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } catch (e) {
    if (!(folder && FOLDER_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? ""))) throw e;
  } finally {
    closeSync(fd);
  }
}

async function syncPath(path: string, folder: boolean): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } catch (e) {
    if (!(folder && FOLDER_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? ""))) throw e;
  } finally {
    await fh.close();
  }
}

/** Flushes every file and folder under `root` (root included) to the disk. Blocks: for CLI tools and small trees. */
export function syncTreeSync(root: string): SyncedTree {
  const { files, folders } = listTree(root);
  for (const f of files) syncPathSync(f, false);
  for (const d of folders) syncPathSync(d, true);
  return { files: files.length, folders: folders.length };
}

/**
 * syncTreeSync without blocking the event loop: a process that also runs a node agent or answers
 * NATS must keep its heartbeats going while a multi-GB checkpoint is flushed.
 */
export async function syncTree(root: string): Promise<SyncedTree> {
  const { files, folders } = listTree(root);
  for (const f of files) await syncPath(f, false);
  for (const d of folders) await syncPath(d, true);
  return { files: files.length, folders: folders.length };
}

/** Flushes the folder holding `path`, so a rename (or a new file) in it survives an OS crash. */
export function syncParentSync(path: string): void {
  syncPathSync(dirname(path), true);
}

/** syncParentSync without blocking the event loop. */
export function syncParent(path: string): Promise<void> {
  return syncPath(dirname(path), true);
}

/** Flushes one file (an appended log before a checkpoint that covers it, a file about to be renamed). */
export function syncFileSync(path: string): void {
  syncPathSync(path, false);
}

/** syncFileSync without blocking the event loop. */
export function syncFile(path: string): Promise<void> {
  return syncPath(path, false);
}
