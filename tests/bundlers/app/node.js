import { demo } from "./app.js";

demo().then((result) => console.log(JSON.stringify(result)));
