import {
  DEFAULT_REDACT_KEYS,
  createRedactor,
  luhnValid,
  redactCardNumbers,
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
    'nationalInsuranceNumber',
    'national_insurance_number',
    'NINumber',
    'nino',
    'apiKey',
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

  it('is configurable: a replaced key list, and card scanning off', () => {
    const custom = createRedactor({ keys: ['mothers maiden name'], cardNumbers: false });
    expect(custom.redactsKey('MothersMaidenName')).toBe(true);
    expect(custom.redactsKey('password')).toBe(false);
    expect(custom.cleanString('4111111111111111')).toBe('4111111111111111');
  });
});
