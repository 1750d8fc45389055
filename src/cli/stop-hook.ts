/**
 * How the process asks the command in progress to stop (its stderr closed, say): the command
 * registers its abort, and the run unwinds as for a signal, releasing its lock and recording its
 * failure, instead of the process exiting under it.
 */
let current: ((reason: Error) => void) | undefined;

/** Registers `stop` while a run is in progress; call the returned function when it ends. */
export function onStopRequest(stop: (reason: Error) => void): () => void {
  current = stop;
  return () => {
    if (current === stop) current = undefined;
  };
}

/** Asks the command in progress to stop; false when none is registered. */
export function requestStop(reason: Error): boolean {
  if (!current) return false;
  current(reason);
  return true;
}
