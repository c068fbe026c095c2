/** Option parsers shared by the commands: clear messages for bad values. */
import { InvalidArgumentError } from 'commander';

export function parseIntOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} takes a whole number, not "${value}".`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`);
    return n;
  };
}
