// Server-sent events parser. EventSource cannot POST, so /api/chat is read with fetch() and a
// ReadableStream reader, and its bytes (decoded) are fed here.
// feed() takes decoded text in arbitrary chunks; onEvent({type, data, id})
// fires once per dispatched event. `retry:` is ignored: we never auto-replay
// a chat POST, and an unterminated event at EOF is dropped as the spec says.
export function createSSEParser(onEvent) {
  const EOL = /\r\n|\r|\n/g;
  let buf = "", data = "", type = "", lastId = "", seenData = false;
  let skipLF = false; // last chunk ended in "\r": a leading "\n" now belongs to it

  function dispatch() {
    if (seenData) onEvent({ type: type || "message", data: data.slice(0, -1), id: lastId });
    data = ""; type = ""; seenData = false;
  }

  function processLine(line) {
    if (line === "") return dispatch();
    if (line[0] === ":") return; // comment, e.g. ": hb" heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "data") { data += value + "\n"; seenData = true; }
    else if (field === "event") type = value;
    else if (field === "id") { if (!value.includes("\0")) lastId = value; }
  }

  return {
    feed(chunk) {
      if (!chunk) return;
      buf += chunk;
      let pos = 0;
      if (skipLF && buf[0] === "\n") pos = 1;
      skipLF = false;
      for (EOL.lastIndex = pos; ; ) {
        const m = EOL.exec(buf);
        if (!m) break;
        // A lone "\r" at the very end may be the first half of "\r\n".
        if (m[0] === "\r" && EOL.lastIndex === buf.length) skipLF = true;
        processLine(buf.slice(pos, m.index));
        pos = EOL.lastIndex;
      }
      buf = buf.slice(pos);
    },
  };
}
