/* お知らせの受け取り方 on the registration form (templates/courses/register.html, fieldset[data-notify-choices];
   courses.forms.RegistrationForm.notify_by).

   Progressive enhancement. Without this script every choice is offered and the server refuses one the contact
   details do not allow (RegistrationForm._check_notify_by), with an error that says why; it still does. With it,
   as the resident types their contact details, a choice those details do not allow is disabled, with the reason
   beside it (「上でメールアドレスを入力すると選べます」), and enabled again as soon as it becomes possible.

   The rules mirror the server's, read from the page where the server can say them (data- attributes rendered
   from the form):
   - whose details count: the person attending's, when they gave an e-mail address or a phone number; otherwise,
     when booking for someone else, the booker's (courses.recipients.recipient_for, RegistrationForm.recipient);
   - e-mail needs an e-mail address; a phone call needs a phone number; SMS needs a mobile number
     (data-mobile-pattern: courses.recipients.MOBILE, matched against the digits of the number); LINE needs
     nothing here (it is linked after booking);
   - the contact fields are normalised as the server does (cms.normalize.normalize_email, normalize_phone):
     full-width letters and digits folded, spaces and the separators people type removed, +81 → 0.

   A choice already selected is never taken away while the resident is still typing (correcting a digit of their
   mobile number must not drop SMS): its reason shows at once, and it is unselected only when the contact field
   is left (its change event) and the choice is still impossible; the live region (role=status) then says so, in
   words read from the page. The server still decides. */
(function () {
  "use strict";

  var box = document.querySelector("[data-notify-choices]");
  var form = box && box.closest("form");
  if (!form || !box.dataset.mobilePattern) { return; }
  var data = box.dataset;
  var mobile = new RegExp("^(?:" + data.mobilePattern + ")$");
  var NEEDS = ["email", "mobile", "phone"];

  // The same separators as cms.normalize._PHONE_SEPARATORS (applied after folding full-width ASCII).
  var PHONE_SEPARATORS = /[\s\-‐‑‒–—―−－ー─━ｰ﹣.()（）・/]/g;

  function toHalfWidth(value) {
    // jaconv.z2h(ascii=True, digit=True): full-width ASCII (U+FF01–FF5E) and the ideographic space.
    return (value || "").replace(/[\uFF01-\uFF5E]/g, function (ch) {
      return String.fromCharCode(ch.charCodeAt(0) - 0xFEE0);
    }).replace(/\u3000/g, " ");
  }

  function normalizeEmail(value) {
    return toHalfWidth(value).replace(/\s+/g, "");
  }

  function normalizePhone(value) {
    var phone = toHalfWidth(value).trim().replace(PHONE_SEPARATORS, "");
    if (phone.indexOf("+81") === 0) {
      phone = "0" + phone.slice(3).replace(/^0+/, "");
    } else if (phone.indexOf("0081") === 0) {
      phone = "0" + phone.slice(4).replace(/^0+/, "");
    }
    return phone;
  }

  function field(name) {
    return name ? form.elements.namedItem(name) : null;
  }

  function valueOf(name) {
    var element = field(name);  // an input, or a RadioNodeList whose value is the checked radio's
    return (element && element.value) || "";
  }

  // The contact details that will receive the messages, as courses.recipients.recipient_for decides.
  function recipient() {
    var person = {email: normalizeEmail(valueOf(data.personEmail)), phone: normalizePhone(valueOf(data.personPhone))};
    if (person.email || person.phone) { return person; }
    if (valueOf(data.bookingFor) === data.bookingForOther) {
      return {email: normalizeEmail(valueOf(data.bookerEmail)), phone: normalizePhone(valueOf(data.bookerPhone))};
    }
    return {email: "", phone: ""};
  }

  function allowed(contact) {
    return {
      email: Boolean(contact.email),
      phone: Boolean(contact.phone),
      mobile: mobile.test(contact.phone.replace(/\D/g, ""))  // courses.recipients.is_mobile: its digits
    };
  }

  // data-needs-email, data-reason-mobile, data-unselected-phone…
  function said(what, need) {
    return data[what + need.charAt(0).toUpperCase() + need.slice(1)];
  }

  // Each choice that needs something: its radio, and the reason shown beside it (created once, hidden when
  // the choice is possible).
  var choices = [];
  NEEDS.forEach(function (need) {
    var value = said("needs", need);
    var radio = value && form.querySelector("input[type=radio][name='" + data.choices + "'][value='" + value + "']");
    var label = radio && radio.id && form.querySelector("label[for='" + radio.id + "']");
    if (!label) { return; }
    var reason = document.createElement("span");
    reason.className = "help notify-reason";
    reason.id = radio.id + "_reason";
    reason.hidden = true;
    reason.textContent = said("reason", need) || "";
    label.appendChild(document.createElement("br")).hidden = true;
    label.appendChild(reason);
    choices.push({need: need, radio: radio, reason: reason});
  });
  if (!choices.length) { return; }

  // The live region exists (empty) before anything is said in it, so that screen readers announce what is.
  var status = document.createElement("div");
  status.setAttribute("role", "status");
  status.className = "notify-status";
  var group = choices[0].radio.closest("fieldset");
  group.parentNode.insertBefore(status, group.nextSibling);

  function say(text) {
    status.textContent = "";
    if (!text) { return; }
    var note = document.createElement("p");
    note.className = "notice notice-warning";
    note.textContent = text;
    status.appendChild(note);
  }

  // commit: the resident left a contact field (or changed whose booking it is): a selected choice that is no
  // longer possible is unselected, and they are told.
  function update(commit) {
    var can = allowed(recipient());
    var dropped = [];
    choices.forEach(function (choice) {
      var possible = can[choice.need];
      if (!possible && choice.radio.checked && commit) {
        choice.radio.checked = false;
        dropped.push(said("unselected", choice.need));
      }
      choice.radio.disabled = !possible && !choice.radio.checked;
      choice.reason.hidden = possible;
      choice.reason.previousSibling.hidden = possible;  // the line break before the reason
    });
    if (dropped.length) { say(dropped.join(" ")); }
  }

  var CONTACT = [data.personEmail, data.personPhone, data.bookerEmail, data.bookerPhone, data.bookingFor];
  function isContact(target) {
    return target && CONTACT.indexOf(target.name) !== -1;
  }

  form.addEventListener("input", function (event) {
    if (isContact(event.target)) { update(false); }
  });
  form.addEventListener("change", function (event) {
    if (isContact(event.target)) {
      update(true);
    } else if (event.target.name === data.choices) {
      say("");  // a new choice made: what was said about the old one no longer applies
      update(false);  // a selected choice left impossible (kept while typing) is now disabled
    }
  });
  // Values the browser restores (back button, autofill without events) are read again.
  window.addEventListener("pageshow", function () { update(false); });
  update(false);
}());
