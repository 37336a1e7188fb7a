// Express: mount the handler with app.use (Express strips the mount path; the dashboard accepts
// both forms, and reads a form body itself or takes the one express.urlencoded() parsed).
import express from "express";
import { announce, BASE, dashboard, PORT } from "./upkeep.ts";

const app = express();
app.use(BASE, dashboard);
app.get("/", (_request, response) => {
  response.send("the app's own routes");
});
announce("express", app.listen(PORT, "127.0.0.1"));
