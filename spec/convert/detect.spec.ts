import { formatDiagnostic, isLegacyConfig } from '../../config/convert';

describe('isLegacyConfig', () => {
  it.each([
    ['a .cfg file, whatever it holds', 'version: 1\n', '/etc/3proxy/3proxy.cfg', true],
    ['a .yaml file', 'proxy -p3128\n', 'rx.yaml', false],
    ['a .yml file', 'proxy\n', 'rx.yml', false],
    ['a .json file', '{}', 'rx.json', false],
    ['a 3proxy command first', 'nserver 8.8.8.8\nproxy\n', '/etc/3proxy/3proxy', true],
    ['comments and a shebang before the first command', '#!/usr/local/bin/3proxy\n# hi\n  indented\nlog\n', 'conf', true],
    ['include and end count as commands', 'include /etc/3proxy/x\n', 'conf', true],
    ['a YAML key first', '# yaml\nversion: 1\nservices: []\n', 'conf', false],
    ['a YAML key that is also a 3proxy command name', 'users:\n  a: CL:x\n', 'conf', false],
    ['a YAML document marker', '---\nversion: 1\n', 'conf', false],
    ['a word that is no 3proxy command', 'hello world\n', 'conf', false],
    ['an empty file', '', 'conf', false],
  ])('%s', (_what, text, file, expected) => {
    expect(isLegacyConfig(text, file)).toBe(expected);
  });
});

describe('formatDiagnostic', () => {
  it('prints FILE:LINE: [CODE] message', () => {
    expect(formatDiagnostic({ file: 'a.cfg', line: 3, code: 'PRXWRN005', message: 'late log' })).toBe('a.cfg:3: PRXWRN005 late log');
    expect(formatDiagnostic({ file: 'a.cfg', line: 4, message: "Unknown command: 'x'" })).toBe("a.cfg:4: Unknown command: 'x'");
  });
});
