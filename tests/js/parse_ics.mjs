// Reads an iCalendar file on stdin and prints its events as JSON, parsed by Mozilla's ical.js (Thunderbird's
// parser): [{uid, summary, start, end, status, sequence}], start/end as ISO 8601 with the UTC offset.
import ICAL from "ical.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString("utf8");

const root = new ICAL.Component(ICAL.parse(text));
for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtimezone);
}

function iso(time) {
  const offset = time.utcOffset(); // seconds
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  const pad = (n) => String(n).padStart(2, "0");
  return `${time.year}-${pad(time.month)}-${pad(time.day)}T${pad(time.hour)}:${pad(time.minute)}:${pad(time.second)}`
    + `${sign}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}`;
}

const events = root.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  return {
    uid: event.uid,
    summary: event.summary,
    start: iso(event.startDate),
    end: iso(event.endDate),
    tzid: event.startDate.zone ? event.startDate.zone.tzid : null,
    status: component.getFirstPropertyValue("status"),
    sequence: event.sequence,
    description: event.description,
  };
});
process.stdout.write(JSON.stringify(events));
