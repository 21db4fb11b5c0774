import { describe, expect, it } from 'vitest';
import { ApiError, errorFromResponse } from '../api/client';
import { fieldError, humanError, humanWaits } from './errors';

describe('humanError', () => {
  it('keeps the request id for faults of the server only', () => {
    const wrongPassword = new ApiError(401, 'invalid_credentials', 'Wrong email or password.', 'Check both and try again.', 'req-1');
    expect(humanError(wrongPassword).requestId).toBeNull();
    const fault = new ApiError(500, 'internal_error', 'Something broke.', 'Try again. If it keeps happening, contact support.', 'req-2');
    expect(humanError(fault).requestId).toBe('req-2');
  });

  it('turns waits in seconds into human durations', () => {
    const limited = new ApiError(429, 'rate_limited', 'Too many attempts.', 'Wait 895 seconds and try again.', 'r', 895_000);
    expect(humanError(limited).hint).toBe('Wait about 15 minutes and try again.');
    expect(humanWaits('Try again in 3 seconds.')).toBe('Try again in a few seconds.');
    expect(humanWaits('Nothing to change.')).toBe('Nothing to change.');
  });
});

it('words a refused field as a sentence where no form shows it', () => {
  expect(humanError(new ApiError(400, 'invalid_field', 'content: is longer than 20000 characters', '', 'r')).message).toBe(
    'Content is longer than 20000 characters.',
  );
});

describe('fieldError', () => {
  const labels = { title: 'The title', idea: 'Your idea' };
  it('reads the field and the problem from an invalid_field answer', () => {
    expect(fieldError(new ApiError(400, 'invalid_field', 'title: must not be empty', 'Give the session a title.', 'r'), labels)).toEqual({
      field: 'title',
      message: 'The title is empty: write a few words.',
      hint: 'Give the session a title.',
    });
    expect(fieldError(new ApiError(400, 'invalid_field', 'idea: is longer than 10000 characters', '', 'r'), labels)).toEqual({
      field: 'idea',
      message: 'Your idea is too long: at most 10,000 characters.',
      hint: '',
    });
  });
  it('is no field error for fields the form does not have or other codes', () => {
    expect(fieldError(new ApiError(400, 'invalid_field', 'workflow_id: unknown', '', 'r'), labels)).toBeNull();
    expect(fieldError(new ApiError(409, 'already_exists', 'title: taken', '', 'r'), labels)).toBeNull();
    expect(fieldError(new Error('title: x'), labels)).toBeNull();
  });
});

describe('fieldError with the field named by the server (error.field)', () => {
  const labels = { title: 'The title', name: 'The name' };
  const refusal = (field: string | undefined, message: string, hint = '') =>
    errorFromResponse(
      new Response(JSON.stringify({ error: { code: 'invalid_field', message, hint, request_id: 'r', field } }), {
        status: 400,
        headers: { 'content-type': 'application/json' },
      }),
    );

  it('places the message under the field the server names, without the "field: " prefix', async () => {
    const err = await refusal('title', 'title: is longer than 200 characters', 'Shorten the title.');
    expect(err.field).toBe('title');
    expect(fieldError(err, labels)).toEqual({ field: 'title', message: 'The title is too long: at most 200 characters.', hint: 'Shorten the title.' });
  });

  it('trusts `field` over the message, which then need not start with it', async () => {
    const err = await refusal('title', 'must not be empty');
    expect(fieldError(err, labels)?.field).toBe('title');
    expect(fieldError(err, labels)?.message).toBe('The title is empty: write a few words.');
    expect(fieldError(await refusal('idea', 'title: must not be empty'), labels)).toBeNull();
  });

  it('makes a sentence of a problem that does not read on after the name', async () => {
    const err = await refusal(undefined, 'name: give the key a name of 1 to 100 characters that says what uses it');
    expect(fieldError(err, labels)).toMatchObject({ field: 'name', message: 'Give the key a name of 1 to 100 characters that says what uses it.' });
    expect(humanError(err).message).toBe('Give the key a name of 1 to 100 characters that says what uses it.');
  });
});

it('fieldError reads a refused query parameter (invalid_query) only where the form says it takes one', () => {
  const err = new ApiError(400, 'invalid_query', 'from: must be before to', 'Give a range with from < to.', 'r', null, 'from');
  const labels = { from: 'From', to: 'To' };
  expect(fieldError(err, labels)).toBeNull();
  expect(fieldError(err, labels, ['invalid_query'])).toEqual({ field: 'from', message: 'From must be before to.', hint: 'Give a range with from < to.' });
});
