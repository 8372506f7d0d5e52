/**
 * The JSON pointer of the first key an object of `text` names twice, or undefined when none does.
 * JSON.parse keeps the last value without a word, so `{"username": "a", "username": "b"}` would
 * erase b's reports though the request names a first. `text` must be valid JSON (parse it first):
 * the scan only follows strings and brackets.
 *
 * @example
 * duplicateKey('{"status": "resolved", "status": "ignored"}'); // '/status'
 */
export function duplicateKey(text: string): string | undefined {
  // One frame per open object or array: an object's keys so far, and whether a key comes next.
  const stack: Frame[] = [];
  const top = (): Frame | undefined => stack[stack.length - 1];
  // Where a value that starts now sits: under its object's last key, or its array's index.
  const pathHere = () => {
    const t = top();
    return t ? `${t.path}/${t.keys ? escape(t.last ?? '') : t.index}` : '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const t = top();
      if (t?.keys && t.keyNext) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (t.keys.has(key)) return `${t.path}/${escape(key)}`;
        t.keys.add(key);
        t.last = key;
        t.keyNext = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const path = pathHere();
      stack.push({ keys: c === '{' ? new Set() : undefined, keyNext: c === '{', path, index: 0 });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const t = top()!;
      if (t.keys) t.keyNext = true;
      else t.index++;
    }
  }
  return undefined;
}

interface Frame {
  /** an object's keys so far; undefined for an array */
  keys?: Set<string>;
  /** in an object: the next string is a key */
  keyNext: boolean;
  /** the JSON pointer of this object or array */
  path: string;
  last?: string;
  /** in an array: the index of the current item */
  index: number;
}

function escape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
