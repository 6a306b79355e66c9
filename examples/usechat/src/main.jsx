import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Chat } from "./Chat.jsx";
import { chatId } from "./chatId.js";
import "./style.css";

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <Chat id={chatId()} />
  </StrictMode>,
);
