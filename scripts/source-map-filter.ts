/**
 * Shrinks a source map (v3, without sourcesContent) to what stack traces need: used by
 * scripts/bundle.ts to ship the mappings of src/ only, one per original line.
 *
 * Why: with --enable-source-maps, Node parses a map's mappings into one small array per
 * segment the first time a stack trace is formatted (something reads an error's `stack`
 * early in every run), and keeps them. The agent bundle's full map (~880,000 segments) then
 * costs ~90 MiB of heap and ~1 s of CPU; its src/ part (~55,000 segments) ~6 MiB; one
 * segment per src/ line (~14,000) ~1.5 MiB. Frames inside dependencies show bundle
 * positions instead, and src/ frames the line with the column of its first mapped token.
 */

export interface SourceMapV3 {
  version: 3;
  sources: string[];
  names: string[];
  mappings: string;
  sourceRoot?: string;
  file?: string;
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const digit = new Map([...alphabet].map((c, i) => [c, i]));

function decodeSegment(text: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const d = digit.get(c);
    if (d === undefined) throw new Error(`invalid base64 VLQ character ${JSON.stringify(c)}`);
    value += (d & 31) * 2 ** shift;
    if (d & 32) {
      shift += 5;
    } else {
      out.push(value % 2 === 1 ? -(value - 1) / 2 : value / 2);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

function encodeValue(n: number): string {
  let v = n < 0 ? -n * 2 + 1 : n * 2;
  let out = '';
  do {
    let d = v % 32;
    v = Math.floor(v / 32);
    if (v > 0) d |= 32;
    out += alphabet[d];
  } while (v > 0);
  return out;
}

/**
 * A map with only the segments whose source passes `keep`; `sources` and `names` hold only
 * what those segments use. A dropped segment becomes a column-only (unmapped) segment, so
 * the kept mapping before it does not stretch over the dropped code. With `linesOnly`, a
 * segment that maps to the same source line as the mapped segment before it is dropped too
 * (a lookup between them still finds that line), and names are left out.
 */
export function filterSourceMap(
  map: SourceMapV3,
  keep: (source: string) => boolean,
  options: { linesOnly?: boolean } = {},
): SourceMapV3 {
  const sources: string[] = [];
  const sourceIndex = new Map<number, number>();
  const names: string[] = [];
  const nameIndex = new Map<number, number>();
  // Absolute fields of the input (VLQ values are deltas) and of the output.
  let inSource = 0;
  let inLine = 0;
  let inColumn = 0;
  let inName = 0;
  let outSource = 0;
  let outLine = 0;
  let outColumn = 0;
  let outName = 0;
  // Whether the last segment written ends a mapping. It carries over lines: a mapping's range
  // continues onto the next lines (for Node's findEntry) until a segment ends it.
  let lastWasUnmapped = true;
  const lines = map.mappings.split(';').map((line) => {
    let genColumn = 0;
    let outGenColumn = 0;
    const segments: string[] = [];
    for (const text of line.split(',')) {
      if (!text) continue;
      const f = decodeSegment(text);
      genColumn += f[0]!;
      let kept = false;
      let name: number | undefined;
      if (f.length >= 4) {
        inSource += f[1]!;
        inLine += f[2]!;
        inColumn += f[3]!;
        if (f.length >= 5) {
          inName += f[4]!;
          name = inName;
        }
        kept = keep(map.sources[inSource]!);
      }
      if (
        kept &&
        options.linesOnly &&
        !lastWasUnmapped &&
        sourceIndex.get(inSource) === outSource &&
        inLine === outLine
      )
        continue;
      if (!kept) {
        // One unmapped segment ends the mapping before it; more in a row add nothing.
        if (lastWasUnmapped) continue;
        segments.push(encodeValue(genColumn - outGenColumn));
        outGenColumn = genColumn;
        lastWasUnmapped = true;
        continue;
      }
      let s = sourceIndex.get(inSource);
      if (s === undefined) {
        s = sources.push(map.sources[inSource]!) - 1;
        sourceIndex.set(inSource, s);
      }
      let out =
        encodeValue(genColumn - outGenColumn) +
        encodeValue(s - outSource) +
        encodeValue(inLine - outLine) +
        encodeValue(inColumn - outColumn);
      outGenColumn = genColumn;
      outSource = s;
      outLine = inLine;
      outColumn = inColumn;
      if (name !== undefined && !options.linesOnly) {
        let n = nameIndex.get(name);
        if (n === undefined) {
          n = names.push(map.names[name]!) - 1;
          nameIndex.set(name, n);
        }
        out += encodeValue(n - outName);
        outName = n;
      }
      segments.push(out);
      lastWasUnmapped = false;
    }
    return segments.join(',');
  });
  return { ...map, sources, names, mappings: lines.join(';') };
}
