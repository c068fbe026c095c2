/** Runs a Python interop script with the root password on stdin (never argv); resolves its stdout. */
import { spawn } from 'node:child_process';

export function runPython(script: string, args: readonly string[], password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`python3 exited ${code}: ${err}`))));
    child.stdin.end(`${password}\n`);
  });
}
