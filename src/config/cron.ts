import cron from 'node-cron';

// Letters only as node-cron takes them: L, W, and month or weekday names (jan, sunday), so that
// prose such as "every day at 6 am" is refused by the outline already.
const FIELD = '(?:[0-9*?/,#-]|L|W|[A-Za-z]{3}(?:[A-Za-z]{3,6})?)+';

/**
 * What a schedule: may look like, for JSON Schema: five fields, or six with seconds first, or one of
 * node-cron's @ names. It is the outline only (`every day at 6 am` has five fields); cronProblem
 * is the real check, and a value it accepts always fits this outline, so editors never flag a
 * schedule that mlscale takes.
 */
export const CRON_PATTERN = `^\\s*(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|${FIELD}(\\s+${FIELD}){4,5})\\s*$`;

export const CRON_HINT =
  'write a cron expression of five fields (minute hour day month weekday), or six with seconds first, such as "0 6 * * *", or @daily';

/** Why node-cron, which runs the schedule, would refuse `expression`; undefined if it takes it. */
export function cronProblem(expression: string): string | undefined {
  const check = cron.validateDetailed(expression);
  if (check.valid) return undefined;
  return check.errors.map((e) => e.message.replace(/ is a invalid expression for /, ' is not a valid ')).join(', ');
}
