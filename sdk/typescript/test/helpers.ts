/** Shared test helpers: the repo's paths, the node binary, child processes, polling. */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository's root: the first folder above this file holding docs/test-vectors.json. */
export function repoRoot(): string {
  let dir = here;
  for (;;) {
    if (existsSync(path.join(dir, 'docs', 'test-vectors.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no docs/test-vectors.json above ${here}`);
    dir = up;
  }
}

/** docs/test-vectors.json, parsed. */
export function loadVectors(): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(repoRoot(), 'docs', 'test-vectors.json'), 'utf8')) as Record<string, unknown>;
}

/** The agentmesh binary: $AGENTMESH_BIN, else the repo's target/debug/agentmesh. */
export function agentmeshBin(): string {
  const bin = process.env['AGENTMESH_BIN'] || path.join(repoRoot(), 'target', 'debug', 'agentmesh');
  if (!existsSync(bin)) {
    throw new Error(`the agentmesh binary is not at ${bin}: build it (cargo build) or set AGENTMESH_BIN`);
  }
  return bin;
}

/** A fresh temporary folder (removed by the returned cleanup). */
export async function tempHome(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'agentmesh-sdk-ts-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 25));
  }
}

const children = new Set<ChildProcess>();
// Whatever happens to the test process, no child outlives it.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A child process whose output is collected, killed by `stop()`. */
export class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  exited: Promise<number | null>;

  constructor(bin: string, args: string[], env: Record<string, string>) {
    this.proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    children.add(this.proc);
    this.exited = new Promise((resolve) =>
      this.proc.on('close', (code) => {
        children.delete(this.proc);
        resolve(code);
      }),
    );
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Runs the binary to completion (with a deadline); resolves to its exit code and output. */
export async function run(
  bin: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = new Child(bin, args, env);
  const t = setTimeout(() => c.proc.kill('SIGKILL'), timeoutMs);
  const code = await c.exited;
  clearTimeout(t);
  return { code, stdout: c.stdout, stderr: c.stderr };
}
