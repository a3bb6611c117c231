"""Runs a command in a pseudo-terminal and answers its prompts, for tests of interactive commands.

    python3 pty-run.py STEPS_JSON -- COMMAND ARGS...

STEPS_JSON is a list of {"expect": REGEX, "send": KEYS} (or "signal": NAME): wait until REGEX
appears in the screen output (escape sequences removed) after the previous match, then type KEYS
(or send the process that signal). Prints one JSON object:
{"code": exit status, "transcript": output without escape sequences, "stuck": the step that never
matched, or null}.
"""
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

ANSI = re.compile(r'\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]')


def main():
    steps = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index('--') + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
    raw = b''
    position = 0
    stuck = None

    def pump(timeout):
        nonlocal raw
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        raw += chunk
        return True

    def screen():
        return ANSI.sub('', raw.decode('utf-8', 'replace'))

    alive = True
    for index, step in enumerate(steps):
        pattern = re.compile(step['expect'])
        deadline = time.time() + 10
        while True:
            found = pattern.search(screen(), position)
            if found:
                position = found.end()
                break
            if not alive or time.time() > deadline:
                stuck = index
                break
            alive = pump(0.05)
        if stuck is not None:
            break
        if 'signal' in step:
            os.kill(pid, getattr(signal, step['signal']))
        for key in step.get('send', []):
            os.write(fd, key.encode('utf-8'))
            time.sleep(0.02)
    deadline = time.time() + 10
    while alive and time.time() < deadline:
        alive = pump(0.05)
    if alive:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    print(json.dumps({'code': code, 'transcript': screen(), 'stuck': stuck}))


main()
