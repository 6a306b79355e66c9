// The Vercel AI SDK (ai@6 or ai@5, see sdk.mjs) as a strict client of aichatflow's UI message
// stream, for tests/clients/test_vercel_ai_sdk*.py.
//
// Why the SDK's own code and not a parser of ours: DefaultChatTransport reads the response with
// parseJsonEventStream + uiMessageChunkSchema (an unknown part type, a missing or mistyped
// field fails the stream) and readUIMessageStream builds the UIMessage a useChat page
// would show. Whatever passes here is what a real front end accepts.
//
// Usage: [AICHATFLOW_AI_SDK_DIR=../node-ai5] node ui_client.mjs < scenario.json (or the JSON as
// the first argument); prints one JSON object on stdout. Scenario:
//   {"op": "send" | "reconnect" | "send-then-reconnect",
//    "sdkMajor": 5 | 6,  // optional: the major the caller meant to run (a mismatch is an error)
//    "api": "http://127.0.0.1:PORT/api/ui/chat", "chatId": "c1",
//    "messages": [UIMessage...], "trigger": "submit-message" | "regenerate-message",
//    "messageId": "...", "body": {...extra body}, "headers": {...},
//    "abortAfterDeltas": N}  // send: abort (AbortSignal) once N text deltas have arrived
// "send-then-reconnect" sends, leaves after abortAfterDeltas deltas (a page reload), then asks
// reconnectToStream for the rest, as useChat({resume: true}) does on mount.
//
// Result: {"send": Reading?, "reconnect": Reading | null?} where a Reading is
//   {"chunks": [validated chunk...], "message": UIMessage | null, "errors": [{name, message}],
//    "unknownFields": [{type, fields}], "aborted": bool}
// `errors` holds what the SDK reported (a failed validation, an `error` part, an abort);
// `unknownFields` the fields of a part that its schema does not name, which the loose schemas of
// ai 6.0.x and 5.0.x let through unchecked (schema_fields.mjs).
// A thrown error outside a stream (an HTTP error status) is {"thrown": {name, message}}.
import { unknownFields } from './schema_fields.mjs';
import { ai, aiMajor, aiVersion, sdkDir } from './sdk.mjs';

const { DefaultChatTransport, readUIMessageStream } = ai;

async function readStdin() {
  let text = '';
  for await (const piece of process.stdin) text += piece;
  return text;
}

const scenario = JSON.parse(process.argv[2] ?? (await readStdin()));
if (scenario.sdkMajor !== undefined && scenario.sdkMajor !== aiMajor) {
  // A test of the ai@5 stream read by ai@6 (or the reverse) would prove nothing.
  throw new Error(`asked for ai@${scenario.sdkMajor}, ${sdkDir} has ai ${aiVersion}`);
}

function errorInfo(error) {
  return { name: error?.name ?? typeof error, message: String(error?.message ?? error) };
}

// Reads a stream of chunks that DefaultChatTransport already validated, the way useChat does,
// keeping every chunk; aborts `controller` once `abortAfterDeltas` text deltas have arrived.
async function read(stream, { controller, abortAfterDeltas } = {}) {
  const chunks = [];
  const errors = [];
  const extra = [];
  let deltas = 0;
  let aborted = false;
  const recorded = stream.pipeThrough(
    new TransformStream({
      transform(chunk, out) {
        chunks.push(chunk);
        const fields = unknownFields(chunk);
        if (fields.length > 0) extra.push({ type: chunk.type, fields });
        out.enqueue(chunk);
        if (chunk.type === 'text-delta') {
          deltas += 1;
          if (controller && abortAfterDeltas !== undefined && deltas >= abortAfterDeltas) {
            aborted = true;
            controller.abort();
          }
        }
      },
    }),
  );
  let message = null;
  // onError: without it a validation error is an unhandled rejection that kills the process.
  const onError = (error) => errors.push(errorInfo(error));
  for await (const snapshot of readUIMessageStream({ stream: recorded, onError })) {
    message = snapshot;
  }
  return { chunks, message, errors, unknownFields: extra, aborted };
}

async function guarded(run) {
  try {
    return await run();
  } catch (error) {
    return { thrown: errorInfo(error) };
  }
}

const transport = new DefaultChatTransport({
  api: scenario.api,
  headers: scenario.headers ?? {},
  body: scenario.body ?? {},
});

async function send() {
  const controller = new AbortController();
  const stream = await transport.sendMessages({
    chatId: scenario.chatId,
    messages: scenario.messages,
    trigger: scenario.trigger ?? 'submit-message',
    messageId: scenario.messageId,
    abortSignal: controller.signal,
  });
  return read(stream, { controller, abortAfterDeltas: scenario.abortAfterDeltas });
}

async function reconnect() {
  const stream = await transport.reconnectToStream({ chatId: scenario.chatId });
  return stream === null ? null : read(stream);
}

const result = {};
if (scenario.op === 'send' || scenario.op === 'send-then-reconnect') {
  result.send = await guarded(send);
}
if (scenario.op === 'reconnect' || scenario.op === 'send-then-reconnect') {
  result.reconnect = await guarded(reconnect);
}
if (!('send' in result) && !('reconnect' in result)) {
  result.thrown = { name: 'UsageError', message: `unknown op ${JSON.stringify(scenario.op)}` };
}
process.stdout.write(JSON.stringify(result) + '\n');
