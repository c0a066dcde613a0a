/** The EventBridge `wildcard` operand: `*` matches any run of characters; `\*` and `\\` are literal. */

/** Why a wildcard operand is refused, if it is. */
export function wildcardProblem(w: string): string | undefined {
  for (let i = 0; i < w.length; i++) {
    const c = w[i];
    if (c === '\\') {
      const next = w[i + 1];
      if (next !== '*' && next !== '\\') return 'a backslash may only escape "*" or "\\"';
      i++;
    } else if (c === '*' && w[i + 1] === '*') {
      return 'consecutive wildcard characters are not allowed';
    }
  }
  return undefined;
}

export function wildcardRegExp(w: string): RegExp {
  let src = '';
  for (let i = 0; i < w.length; i++) {
    const c = w[i];
    if (c === '\\' && (w[i + 1] === '*' || w[i + 1] === '\\')) {
      src += `\\${w[i + 1]}`;
      i++;
    } else if (c === '*') {
      src += '.*';
    } else {
      src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${src}$`, 's');
}
