/**
 * Building `get_all_records_where` expressions. XAPI's filter grammar has no escape
 * mechanism inside "…" literals, so a value holding `"` cannot be expressed: refuse it
 * rather than let a name from a backup VDI rewrite the query.
 */

/** `"value"` for a where-expression; throws when the value contains a double quote. */
export function quoteWhere(value: string): string {
  if (typeof value !== 'string') throw new TypeError('quoteWhere needs a string');
  if (value.includes('"')) throw new RangeError('a value containing a double quote cannot be used in a XenAPI where-expression');
  return `"${value}"`;
}

/** `field "column" = "value"`; column names are database names (name__label). */
export function fieldEquals(column: string, value: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(column)) throw new RangeError(`invalid database column name: ${JSON.stringify(column)}`);
  return `field ${quoteWhere(column)} = ${quoteWhere(value)}`;
}
