/**
 * Keys whose values never leave the machine, even encrypted: a dump is for debugging, and none of
 * these help with that. Matched on normalised keys, so `sortCode`, `sort_code`, `Sort-Code` and
 * `SORTCODE` are the same key; as whole words inside longer keys (`userPassword`,
 * `accessToken`, `password2`); and, those of five letters or more, at the end of run-together
 * words (`newpassword`, `clientsecret`), but not the short ones (`shipping` does not hold `pin`).
 */
export const DEFAULT_REDACT_KEYS: readonly string[] = Object.freeze([
  'password',
  'passwort',
  'passwd',
  'passphrase',
  'pass',
  'pwd',
  'pw',
  'credential',
  'secret',
  'token',
  'api key',
  'pin',
  'authorization',
  'cookie',
  'sort code',
  'account number',
  // the short forms that forms and systems use (`accountNo`, `acct_number`, `card_no`)
  'account no',
  'account num',
  'acct no',
  'acct num',
  'acct number',
  'acc no',
  'bank account',
  'iban',
  'card number',
  'card no',
  'card num',
  'credit card',
  'pan',
  'security code',
  'cvv',
  'cvc',
  'national insurance number',
  'national insurance',
  'ni number',
  'ni no',
  'nino',
]);

export const REDACTED = '[redacted]';
/** The shortest listed key that is also looked for inside a longer word. */
const MIN_FRAGMENT = 5;
const REDACTED_CARD = '[redacted card number]';

const isUpper = (c: number) => c >= 65 && c <= 90;
const isSmall = (c: number) => c >= 97 && c <= 122;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isSmallOrDigit = (c: number) => isSmall(c) || isDigit(c);

/**
 * Splits `userPassword`, `sort_code`, `NINumber`, `password2` into lower-case words, in one pass:
 * a capital after a small letter or digit starts a word, as does the last capital of a run that a
 * small letter follows (`NI|Number`), and a run of digits is a word; anything but a-z and 0-9
 * (after lower-casing: the Kelvin sign is a k) separates words. Not with regular expressions: `([A-Z]+)([A-Z][a-z])` backtracks over a
 * run of capitals from every position of it, and a 60,000-capital key took seconds.
 */
export function keyWords(key: string): string[] {
  const words: string[] = [];
  let word = '';
  const cut = () => {
    if (word !== '') words.push(word);
    word = '';
  };
  // Whether the word so far is digits. Kept, not read back from `word`: a string built by `+=`
  // is a rope, and reading its last character flattens it, once per character.
  let digits = false;
  const add = (ch: string) => {
    // A run of digits is a word of its own: `password2` is `password` and `2`.
    const digit = isDigit(ch.charCodeAt(0));
    if (word !== '' && digit !== digits) cut();
    digits = digit;
    word += ch;
  };
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (isUpper(c)) {
      const prev = i > 0 ? key.charCodeAt(i - 1) : -1;
      const next = i + 1 < key.length ? key.charCodeAt(i + 1) : -1;
      if (isSmallOrDigit(prev) || (isUpper(prev) && isSmall(next))) cut();
      add(String.fromCharCode(c + 32));
    } else if (isSmallOrDigit(c)) {
      add(key[i]);
    } else {
      for (const ch of key[i].toLowerCase()) {
        if (isSmallOrDigit(ch.charCodeAt(0))) add(ch);
        else cut();
      }
    }
  }
  cut();
  return words;
}

function containsRun(words: string[], run: string[]): boolean {
  outer: for (let i = 0; i + run.length <= words.length; i++) {
    for (let j = 0; j < run.length; j++) if (words[i + j] !== run[j]) continue outer;
    return true;
  }
  return false;
}

/** `newpassword` ends with `password`, `awscredentials` with `credential` (and an s). */
function endsWithKey(word: string, key: string): boolean {
  if (word.length <= key.length) return false;
  return word.endsWith(key) || word.endsWith(`${key}s`);
}

/** Luhn check of a digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

// 13-19 digits, optionally grouped by single spaces (a no-break or narrow one too, as word
// processors and web forms put in) or dashes, not inside a longer number, the first 2 to 6: every
// card network's numbers start so (Mastercard 2 and 5, Amex, Diners and JCB 3, Visa 4, Discover,
// UnionPay and Maestro 6 or 5). A millisecond timestamp (13 digits starting 1 until 2033) is
// Luhn-valid one time in ten, and was sent as a card number.
const CARD_CANDIDATE = /(?<![\d])[2-6](?:[ \u00a0\u2007\u202f-]?\d){12,18}(?![\d])/g;
// Dots and slashes also part decimals and dates, so only in the groups cards are printed in:
// 4111.1111.1111.1111, 4111/1111/1111/1111, Amex's 3782.822463.10005.
const CARD_GROUPED = /(?<![\d])[2-6]\d{3}([./])(?:\d{4}\1\d{4}\1\d{1,7}|\d{6}\1\d{5})(?![\d])/g;

function replaceCard(match: string): string {
  const digits = match.replace(/\D/g, '');
  return digits.length >= 13 && digits.length <= 19 && luhnValid(digits) ? REDACTED_CARD : match;
}

/** Replaces every Luhn-valid 13-19 digit run that starts as a card number does with a marker. */
export function redactCardNumbers(text: string): string {
  if (text.length < 13) return text;
  return text.replace(CARD_CANDIDATE, replaceCard).replace(CARD_GROUPED, replaceCard);
}

const REDACTED_NI = '[redacted NI number]';
// A UK National Insurance number: two letters, six digits (often in spaced pairs), a suffix A to D,
// as a word of its own. The prefix is not checked against HMRC's list: QQ 12 34 56 C, the number
// forms print as an example, is typed in as a real one.
const NI_NUMBER = /(?<![A-Za-z0-9])[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d](?![A-Za-z0-9])/g;

/**
 * Replaces every UK National Insurance number in the text with a marker.
 *
 * @example
 * redactNiNumbers('client QQ 12 34 56 C'); // 'client [redacted NI number]'
 */
export function redactNiNumbers(text: string): string {
  if (text.length < 9) return text;
  return text.replace(NI_NUMBER, REDACTED_NI);
}

export interface Redactor {
  /** True when the value under this key must not be sent. */
  redactsKey(key: string): boolean;
  /** The string with card and NI numbers replaced (where that is on). */
  cleanString(text: string): string;
}

/**
 * A redactor for a key list. Key decisions are cached: dumps repeat the same keys many times.
 *
 * @example
 * const r = createRedactor({ keys: [...DEFAULT_REDACT_KEYS, 'mothers maiden name'] });
 * r.redactsKey('MothersMaidenName'); // true
 */
export function createRedactor(options: {
  keys: readonly string[];
  cardNumbers: boolean;
  /** default true */
  niNumbers?: boolean;
}): Redactor {
  const runs = options.keys.map(keyWords).filter((r) => r.length > 0);
  const joined = new Set(runs.map((r) => r.join('')));
  // Keys written all in small letters run their words together (`newpassword`, `clientsecret`,
  // `bankaccountnumber`): a word that ends with a listed key of five letters or more counts too,
  // as such compounds end with what they name (`tokenizer` and `secretary` do not). Shorter keys
  // only as words, or `mypin` would match and so would `shipping` with any looser rule.
  const fragments = [...joined].filter((k) => k.length >= MIN_FRAGMENT);
  const cache = new Map<string, boolean>();
  return {
    redactsKey(key) {
      let hit = cache.get(key);
      if (hit === undefined) {
        const words = keyWords(key);
        hit =
          joined.has(words.join('')) ||
          runs.some((run) => containsRun(words, run)) ||
          fragments.some((k) => words.some((w) => endsWithKey(w, k)));
        if (cache.size > 5000) cache.clear();
        cache.set(key, hit);
      }
      return hit;
    },
    cleanString: cleaner(options.cardNumbers, options.niNumbers ?? true),
  };
}

function cleaner(cardNumbers: boolean, niNumbers: boolean): (text: string) => string {
  if (cardNumbers && niNumbers) return (text) => redactNiNumbers(redactCardNumbers(text));
  if (cardNumbers) return redactCardNumbers;
  if (niNumbers) return redactNiNumbers;
  return (text) => text;
}
