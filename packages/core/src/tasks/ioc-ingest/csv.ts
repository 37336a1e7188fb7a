/**
 * Splits one CSV record (RFC 4180 quoting: `"a,b"`, `""` for a quote). Records spanning lines are
 * not supported: feed exports keep one record a line.
 */
export function splitCsvLine(line: string, delimiter = ","): string[] {
  const fields: string[] = [];
  const separator = delimiter.charCodeAt(0);
  let field = "";
  let quoted = false;
  // Whether the field holds only blanks so far (a quote there opens a quoted field), tracked
  // rather than tested with trim(), which made a line of many quotes quadratic. Text is copied in
  // runs (from `run` to the current index), not a character at a time.
  let blank = true;
  let run = 0;
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (quoted) {
      if (code !== 34) continue;
      field += line.slice(run, i);
      if (line.charCodeAt(i + 1) === 34) {
        field += '"';
        i++;
      } else {
        quoted = false;
        blank = field.trim() === "";
      }
      run = i + 1;
    } else if (code === 34 && blank) {
      quoted = true;
      blank = false;
      field = "";
      run = i + 1;
    } else if (code === separator) {
      fields.push((field + line.slice(run, i)).trim());
      field = "";
      blank = true;
      run = i + 1;
    } else if (code > 32) blank = false;
  }
  fields.push((field + line.slice(run)).trim());
  return fields;
}
