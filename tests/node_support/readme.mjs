// Pulls runnable examples out of a README so the tests run them exactly as written.

/** The first ```js block after the line `heading`. */
export function codeBlock(markdown, heading) {
  const at = markdown.split("\n").findIndex((l) => l.trim() === heading);
  if (at < 0) throw new Error(`no "${heading}" heading`);
  const rest = markdown.split("\n").slice(at + 1).join("\n");
  const m = rest.match(/```js\n([\s\S]*?)```/);
  if (!m) throw new Error(`no js block after "${heading}"`);
  return m[1];
}

/** What each `console.log(...); // expected` line promises to print, in order. */
export function expectedOutput(code) {
  return code
    .split("\n")
    .filter((l) => /console\.log\(/.test(l))
    .map((l) => {
      const m = l.match(/\);\s*\/\/ (.*)$/);
      if (!m) throw new Error(`console.log without an expected-output comment: ${l}`);
      return m[1];
    });
}
