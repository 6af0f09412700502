import { compileTimes, compileWeekdays, secondsOfDay, timeMatches, weekdayMatches } from '../../core/acl/time';
import { thrown } from './request';

/** 2024-01-07 is a Sunday; day offsets give the rest of the week (local time). */
const day = (weekday: number, h = 12, m = 0, s = 0): Date => new Date(2024, 0, 7 + weekday, h, m, s);

describe('weekdays', () => {
  it.each([
    // [tokens, weekday of the date (0 = Sunday), expected]
    [['1-5'], 1, true],
    [['1-5'], 5, true],
    [['1-5'], 6, false],
    [['1-5'], 0, false],
    [[0], 0, true],
    [[7], 0, true], // 7 is Sunday as well
    [['7'], 0, true],
    [['6-7'], 0, true],
    [['6-7'], 6, true],
    [['6-7'], 5, false],
    [['0-6'], 3, true],
    [[1, 3], 3, true],
    [[1, 3], 2, false],
  ])('%j on day %d: %s', (tokens, weekday, expected) => {
    expect(weekdayMatches(compileWeekdays(tokens), day(weekday))).toBe(expected);
  });

  it.each([8, '5-1', 'mon', '1-', '12', -1])('rejects %j', (token) => {
    const err = thrown(() => compileWeekdays([token], '/w'));
    expect(err.code).toBe('PRX_ERR_CONFIG_VALUE');
    expect(err.message).toContain(`"${token}"`);
  });
});

describe('times', () => {
  it.each([
    // [tokens, h, m, s, expected]
    [['09:00:00-18:00:00'], 9, 0, 0, true], // from is inclusive
    [['09:00:00-18:00:00'], 17, 59, 59, true],
    [['09:00:00-18:00:00'], 18, 0, 0, false], // to is exclusive
    [['09:00:00-18:00:00'], 8, 59, 59, false],
    [['22:00:00-24:00:00', '00:00:00-06:00:00'], 23, 59, 59, true],
    [['22:00:00-24:00:00', '00:00:00-06:00:00'], 0, 0, 0, true],
    [['22:00:00-24:00:00', '00:00:00-06:00:00'], 6, 0, 0, false],
    [['00:00:00-24:00:00'], 0, 0, 0, true],
  ])('%j at %d:%d:%d: %s', (tokens, h, m, s, expected) => {
    expect(timeMatches(compileTimes(tokens), day(1, h, m, s))).toBe(expected);
  });

  it('counts seconds since local midnight', () => {
    expect(secondsOfDay(day(2, 1, 2, 3))).toBe(3723);
  });

  it.each([
    ['22:00:00-06:00:00', 'crossing midnight'],
    ['10:00:00-10:00:00', 'ends before it starts'],
    ['24:00:00-24:00:00', 'out of range'],
    ['09:60:00-10:00:00', 'out of range'],
    ['9:00:00-10:00:00', 'HH:MM:SS-HH:MM:SS'],
    ['09:00-10:00', 'HH:MM:SS-HH:MM:SS'],
  ])('rejects %j', (token, why) => {
    const err = thrown(() => compileTimes([token], '/t'));
    expect(err.code).toBe('PRX_ERR_CONFIG_VALUE');
    expect(err.message).toContain(why.includes('crossing') ? 'cross midnight' : why);
    expect(err.message).toContain(`"${token}"`);
  });
});
