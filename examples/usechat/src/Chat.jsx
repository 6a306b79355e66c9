import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport } from "ai";
import { useEffect, useState } from "react";
import { saveMessages, savedMessages } from "./chatId.js";

// Everything aichatflow needs is in the transport: the route, and the model in the body.
// Reconnecting (resume) is GET /api/ui/chat/{id}/stream, the transport's default, which
// aichatflow answers with 204 when nothing is being written.
const transport = new DefaultChatTransport({
  api: "/api/ui/chat",
  body: { model: "mock/markdown" },
});

export function Chat({ id }) {
  const [input, setInput] = useState("");
  const { messages, sendMessage, regenerate, stop, status, error } = useChat({
    id,
    transport,
    messages: savedMessages(id),
    resume: true,
  });
  const busy = status === "submitted" || status === "streaming";
  // Saved whenever no answer is half-written: a resume replays the answer from its start.
  useEffect(() => {
    if (status !== "streaming") saveMessages(id, messages);
  }, [id, messages, status]);

  // Closing the connection does not stop the answer on aichatflow (a reload resumes it), so
  // Stop tells the server as well as ending the local stream.
  async function stopAnswer() {
    await fetch(`/api/ui/chat/${encodeURIComponent(id)}/stop`, { method: "POST" });
    stop();
  }

  return (
    <main>
      {messages.map((message) => (
        <article key={message.id} className={message.role}>
          {message.parts.map((part, i) => (
            <Part key={i} part={part} />
          ))}
        </article>
      ))}
      {error && (
        <p role="alert">
          {error.message} <button onClick={() => regenerate()}>Retry</button>
        </p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!input.trim() || busy) return;
          sendMessage({ text: input });
          setInput("");
        }}
      >
        <input value={input} onChange={(e) => setInput(e.target.value)} placeholder="Say something" />
        {busy ? (
          <button type="button" onClick={stopAnswer}>Stop</button>
        ) : (
          <button type="submit">Send</button>
        )}
      </form>
    </main>
  );
}

// Text is shown as text (React escapes it); reasoning folded; tool calls with their input.
function Part({ part }) {
  if (part.type === "text") return <p>{part.text}</p>;
  if (part.type === "reasoning")
    return (
      <details>
        <summary>Reasoning</summary>
        <p>{part.text}</p>
      </details>
    );
  if (part.type.startsWith("tool-") || part.type === "dynamic-tool")
    return <pre>{`${part.toolName ?? part.type.slice(5)}(${JSON.stringify(part.input)})`}</pre>;
  return null;
}
