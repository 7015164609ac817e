/** @internal */
/**
 * Counts the work a synchronous function does on strings, deterministically: every string and
 * regular-expression built-in it calls is charged for the characters it looks at (`charCodeAt`
 * one, `indexOf` the distance it searched, `slice` the length it copied, a regular expression the
 * length of its input …). A parse that is linear is charged about ten times as much for ten times
 * the input; one that searches past the end of each segment, a hundred times as much. Unlike a
 * clock, the count does not depend on the machine or its load.
 */

type Patch = readonly [
  object,
  string,
  (original: (...args: Array<unknown>) => unknown) => (...args: Array<unknown>) => unknown
]

let units = 0

const charge = (n: number): void => {
  units += n
}

const length = (value: unknown): number => typeof value === "string" ? value.length : 0

const searched = (self: string, result: unknown, from: unknown, backwards: boolean): number => {
  const start = typeof from === "number" ? from : backwards ? self.length : 0
  if (typeof result !== "number" || result === -1) return backwards ? start + 1 : self.length - start
  return backwards ? start - result + 1 : result - start + 1
}

const patches: ReadonlyArray<Patch> = [
  [String.prototype, "charCodeAt", (original) =>
    function(this: string, ...args) {
      charge(1)
      return original.apply(this, args)
    }],
  [String.prototype, "codePointAt", (original) =>
    function(this: string, ...args) {
      charge(1)
      return original.apply(this, args)
    }],
  [String.prototype, "charAt", (original) =>
    function(this: string, ...args) {
      charge(1)
      return original.apply(this, args)
    }],
  [String.prototype, "indexOf", (original) =>
    function(this: string, ...args) {
      const result = original.apply(this, args)
      charge(searched(String(this), result, args[1], false))
      return result
    }],
  [String.prototype, "lastIndexOf", (original) =>
    function(this: string, ...args) {
      const result = original.apply(this, args)
      charge(searched(String(this), result, args[1], true))
      return result
    }],
  ...[
    "includes",
    "startsWith",
    "endsWith",
    "split",
    "replace",
    "replaceAll",
    "toLowerCase",
    "toUpperCase",
    "trim",
    "normalize",
    "match",
    "search"
  ]
    .map((name): Patch => [String.prototype, name, (original) =>
      function(this: string, ...args) {
        charge(String(this).length)
        return original.apply(this, args)
      }]
    ),
  ...["slice", "substring", "substr", "repeat", "padStart", "padEnd", "concat"].map((name): Patch => [
    String.prototype,
    name,
    (original) =>
      function(this: string, ...args) {
        const result = original.apply(this, args)
        charge(length(result))
        return result
      }
  ]),
  [RegExp.prototype, "exec", (original) =>
    function(this: RegExp, ...args) {
      charge(length(args[0]) - (this.global || this.sticky ? this.lastIndex : 0))
      return original.apply(this, args)
    }],
  [JSON, "stringify", (original) => (...args) => {
    const result = original(...args)
    charge(length(result))
    return result
  }],
  [globalThis, "decodeURIComponent", (original) => (...args) => {
    charge(length(args[0]))
    return original(...args)
  }],
  [globalThis, "encodeURIComponent", (original) => (...args) => {
    charge(length(args[0]))
    return original(...args)
  }]
]

/** @internal */
export const work = (f: () => unknown): number => {
  const saved = patches.map(([target, name]) => [target, name, Reflect.get(target, name)] as const)
  units = 0
  for (const [target, name, wrap] of patches) {
    Reflect.set(target, name, wrap(Reflect.get(target, name) as (...args: Array<unknown>) => unknown))
  }
  try {
    f()
  } finally {
    for (const [target, name, original] of saved) Reflect.set(target, name, original)
  }
  return units
}
