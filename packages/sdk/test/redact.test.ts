import {
  DEFAULT_REDACT_KEYS,
  createRedactor,
  keyWords,
  luhnValid,
  redactCardNumbers,
  redactNiNumbers,
} from '../src/dump/redact';

describe('redaction', () => {
  const r = createRedactor({ keys: DEFAULT_REDACT_KEYS, cardNumbers: true });

  it.each([
    'password',
    'Password',
    'userPassword',
    'PASSWORD',
    'secret',
    'clientSecret',
    'token',
    'accessToken',
    'refresh_token',
    'pin',
    'pinCode',
    'PIN',
    'authorization',
    'Authorization',
    'cookie',
    'Set-Cookie',
    'sortCode',
    'sort_code',
    'SortCode',
    'SORTCODE',
    'sort-code',
    'Sort Code',
    'accountNumber',
    'AccountNumber',
    'account_number',
    'cardNumber',
    'card_number',
    // the usual short forms
    'accountNo',
    'AccountNum',
    'acct_no',
    'acctNumber',
    'card_no',
    'CardNo',
    'cardNum',
    // and the names payment and tax forms use
    'creditCard',
    'PAN',
    'securityCode',
    'nationalInsurance',
    'NationalInsuranceNo',
    'niNo',
    'accNo',
    'bankAccount',
    // card security codes by either network's name, and international account numbers
    'cvv',
    'CVV2',
    'cvc',
    'CVC',
    'cvc2',
    'cardCvc',
    'iban',
    'IBAN',
    'clientIban',
    'payee_iban',
    'nationalInsuranceNumber',
    'national_insurance_number',
    'NINumber',
    'nino',
    'apiKey',
    // digits are words of their own; run-together compounds that end with a long listed key
    'password1',
    'password2',
    'pwd2',
    'pw',
    'dbPw',
    'PASS',
    'userPass',
    'newpassword',
    'dbpassword',
    'accesstoken',
    'clientsecret',
    'bankaccountnumber',
    'Passwort',
    'passphrase',
    'credentials',
    'awsCredentials',
  ])('redacts the key %s', (key) => {
    expect(r.redactsKey(key)).toBe(true);
  });

  it.each([
    'shipping',
    'spinner',
    'opinion',
    'tokenizer',
    'accountName',
    'clientId',
    'sort',
    'code',
    'secretary',
    'passenger',
    'compass',
    'pwm',
    'mypin',
    'address1',
    'line2',
    'cardNote',
    'panel',
    'japan',
    'accountType',
    'accountNotes',
    'cardinal',
    'no',
  ])('keeps the key %s', (key) => {
    expect(r.redactsKey(key)).toBe(false);
  });

  it('checks card numbers with Luhn, grouped or not, inside text', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(redactCardNumbers('card 4111 1111 1111 1111 used')).toBe(
      'card [redacted card number] used',
    );
    expect(redactCardNumbers('4111-1111-1111-1111')).toBe('[redacted card number]');
    expect(redactCardNumbers('5500005555555559')).toBe('[redacted card number]');
    // not Luhn-valid, too short, or part of a longer number: kept
    expect(redactCardNumbers('4111111111111112')).toBe('4111111111111112');
    expect(redactCardNumbers('order 123456789012')).toBe('order 123456789012');
    expect(redactCardNumbers('41111111111111110000000')).toBe('41111111111111110000000');
  });

  it('finds card numbers parted by no-break spaces, or by dots and slashes in card groups', () => {
    for (const text of [
      '4111\u00a01111\u00a01111\u00a01111',
      '4111\u202f1111\u202f1111\u202f1111',
      '4111.1111.1111.1111',
      '4111/1111/1111/1111',
      '3782.822463.10005',
    ]) {
      expect(redactCardNumbers(`paid with ${text}.`)).toBe('paid with [redacted card number].');
    }
    // dots and slashes that part decimals, versions and dates, not card groups: kept
    for (const text of [
      '4111111.111111111',
      '4.111111111111111',
      '5.2.1.345',
      '2026/11/28 4111/1111',
      '4111.1111.1111.1112',
    ]) {
      expect(redactCardNumbers(text)).toBe(text);
    }
  });

  it('redacts UK National Insurance numbers as words, spaced or not, in any case', () => {
    for (const text of ['QQ123456C', 'QQ 12 34 56 C', 'ab123456d', 'AB 123456 A']) {
      expect(redactNiNumbers(`NI: ${text}, checked`)).toBe('NI: [redacted NI number], checked');
    }
    for (const text of ['QQ123456E', 'XQQ123456C', 'QQ123456C9', 'Q123456C', 'QQ1234567C']) {
      expect(redactNiNumbers(text)).toBe(text);
    }
    const on = createRedactor({ keys: [], cardNumbers: false });
    expect(on.cleanString('QQ123456C')).toBe('[redacted NI number]');
    const off = createRedactor({ keys: [], cardNumbers: false, niNumbers: false });
    expect(off.cleanString('QQ123456C')).toBe('QQ123456C');
    const both = createRedactor({ keys: [], cardNumbers: true });
    expect(both.cleanString('4111111111111111 QQ123456C')).toBe(
      '[redacted card number] [redacted NI number]',
    );
  });

  it("redacts each card network's numbers, and no Luhn-valid number that starts as none does", () => {
    const cards = {
      amex: '378282246310005',
      diners: '30569309025904',
      discover: '6011111111111117',
      jcb: '3530111333300000',
      mastercard2: '2223003122003222',
      mastercard5: '5555555555554444',
      unionpay: '6200000000000005',
      visa: '4012888888881881',
      visa19: '4111111111111111003',
    };
    for (const number of Object.values(cards)) {
      expect(luhnValid(number)).toBe(true);
      expect(redactCardNumbers(number)).toBe('[redacted card number]');
    }
    // A millisecond timestamp, a 19-digit nanosecond one, and numbers starting 0, 1, 7, 8 or 9.
    for (const other of [
      '1700000000004',
      '1732886400000000008',
      '0000000000000',
      '7992739871300',
      '8000000000002',
      '9000000000001',
    ]) {
      expect(luhnValid(other)).toBe(true);
      expect(redactCardNumbers(other)).toBe(other);
    }
  });

  it('is configurable: a replaced key list, and card scanning off', () => {
    const custom = createRedactor({ keys: ['mothers maiden name'], cardNumbers: false });
    expect(custom.redactsKey('MothersMaidenName')).toBe(true);
    expect(custom.redactsKey('password')).toBe(false);
    expect(custom.cleanString('4111111111111111')).toBe('4111111111111111');
  });
});

describe('keyWords', () => {
  /** The regular-expression split it replaced (digits now a word of their own), whose words it must keep. */
  const byRegExp = (key: string) =>
    key
      .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
      .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
      .toLowerCase()
      .replace(/([a-z])([0-9])/g, '$1 $2')
      .replace(/([0-9])([a-z])/g, '$1 $2')
      .split(/[^a-z0-9]+/)
      .filter((w) => w !== '');

  it.each([
    ['userPassword', ['user', 'password']],
    ['NINumber', ['ni', 'number']],
    ['sort_code', ['sort', 'code']],
    ['ABCDef', ['abc', 'def']],
    ['aBCd', ['a', 'b', 'cd']],
    ['a1B', ['a', '1', 'b']],
    ['password2', ['password', '2']],
    ['address1Line', ['address', '1', 'line']],
    ['to\u212Aen', ['token']],
    ['', []],
  ])('splits %j into %j', (key, words) => {
    expect(keyWords(key)).toEqual(words);
  });

  it('splits every key as the regular expressions did', () => {
    const letters = [
      'a',
      'b',
      'Z',
      'K',
      'Q',
      '1',
      '0',
      '_',
      '-',
      ' ',
      'Ä',
      'ß',
      '\u212A',
      '\ud83d',
    ];
    let seed = 7;
    const pick = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    for (let i = 0; i < 5000; i++) {
      let key = '';
      for (let n = pick(12); n > 0; n--) key += letters[pick(letters.length)];
      expect([key, keyWords(key)]).toEqual([key, byRegExp(key)]);
    }
  });

  it('splits a key of 500,000 capitals without backtracking over it (the old split took minutes)', () => {
    expect(keyWords('K'.repeat(500_000))).toEqual(['k'.repeat(500_000)]);
    expect(keyWords('K'.repeat(250_000) + 'ey')).toEqual(['k'.repeat(249_999), 'key']);
  });
});
