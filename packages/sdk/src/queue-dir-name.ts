/**
 * What is wrong with a `queueDir` path as a folder name, or undefined when nothing is. Node hands
 * Windows every path in its `\\?\` form, which skips the trimming Explorer and the Win32 API do:
 * a folder named with a trailing space or dot is made as named, and neither Explorer nor the app
 * can open it again. A control character is a Windows path written into JSON with its
 * backslashes single (`"D:\reports\new"` holds a CR and a LF): refused on every system, since
 * no one names a folder so on purpose.
 *
 * @example
 * queueDirProblem('D:\\reports\new', 'win32'); // 'queueDir holds a control character ...'
 * queueDirProblem('C:\\Users\\ann\\queue ', 'win32'); // 'queueDir has a folder name ending ...'
 */
export function queueDirProblem(dir: string, platform: NodeJS.Platform): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(dir)) {
    return 'queueDir holds a control character: in JSON, write each backslash of a Windows path twice ("D:\\\\reports\\\\queue")';
  }
  if (platform !== 'win32') return undefined;
  // A path already in the `\\?\` or `\\.\` form says so in its first part, not in a name.
  const plain = dir.replace(/^[\\/]{2}[?.][\\/]/, '');
  const names = plain.split(/[\\/]+/).filter((n) => n !== '' && n !== '.' && n !== '..');
  // A drive ("C:") or a UNC server is no folder of ours; what follows is.
  const named = names.filter((n) => !/^[A-Za-z]:$/.test(n));
  if (named.some((n) => /[ .]$/.test(n))) {
    return 'queueDir has a folder name ending in a space or a dot, which Windows cannot open: remove it';
  }
  if (named.some((n) => /[<>:"|?*]/.test(n))) {
    return 'queueDir has a character Windows does not take in a folder name (< > : " | ? *)';
  }
  return undefined;
}
