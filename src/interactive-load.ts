/**
 * Loads the interactive console's modules so that Ink draws frames in a terminal even when
 * the environment says "CI". Ink (through is-in-ci, read once when the module is first
 * evaluated) suppresses every frame but the last when CI or CONTINUOUS_INTEGRATION is set:
 * an operator's shell or a CI job driving the console in a real terminal would see a blank
 * screen. The console only ever runs on a terminal (runConsole refuses otherwise), so the
 * variables are hidden while the modules are first evaluated and put back at once: the
 * rest of the program, and anything it starts, sees the environment unchanged.
 */
const CI_VARIABLES = ['CI', 'CONTINUOUS_INTEGRATION'] as const;

export async function loadWithoutCiDetection<T>(load: () => Promise<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const saved = new Map<string, string>();
  for (const name of CI_VARIABLES) {
    const value = env[name];
    if (value !== undefined) {
      saved.set(name, value);
      delete env[name];
    }
  }
  try {
    return await load();
  } finally {
    for (const [name, value] of saved) env[name] = value;
  }
}
