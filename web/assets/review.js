// One review: the masked action, why policy asked, the flow with quorum
// progress and votes, the timeline, and the decision buttons for someone
// who may vote (the gateway refuses anyone else anyway).
import * as api from './api.js';
import {
  announce, append, clear, duration, errorBox, h, jsonTree, link, maskedText, stateBadge,
  timeElement,
} from './dom.js';

function section(title, ...children) {
  const id = 's-' + title.toLowerCase().replace(/[^a-z]+/g, '-');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function row(label, ...value) {
  return [h('dt', null, label), h('dd', null, ...value)];
}

function approverList(list) {
  return (list || []).join(', ') || '—';
}

function quorumText(step) {
  return step.quorum === 0 ? 'all of' : `${step.quorum} of`;
}

function flowSection(review) {
  const steps = review.flow && review.flow.steps ? review.flow.steps : [];
  const votes = review.votes || [];
  const items = steps.map((step, index) => {
    const current = review.state === 'pending' && index === review.step;
    const passed = index < review.step || (index === review.step && ['approved', 'executed', 'failed'].includes(review.state));
    const stepVotes = votes.filter((vote) => vote.step === index);
    const approvals = stepVotes.filter((vote) => vote.approve).length;
    const needed = current && review.progress ? review.progress.needed : (step.quorum || approvals);
    let status = 'waiting';
    if (passed) status = 'passed';
    else if (current) status = 'in progress';
    else if (review.state !== 'pending' && index >= review.step) status = 'not reached';
    if (index === review.step && review.state === 'rejected') status = 'rejected';
    const eligible = current && review.progress ? review.progress.eligible : step.approvers;
    const detail = h('dl', { class: 'facts' },
      row('Approvers', `${quorumText(step)} ${approverList(eligible)}`),
      step.escalate_to && step.escalate_to.length
        ? row('Escalation', (index === review.step && review.escalated) ? `escalated to ${approverList(step.escalate_to)}`
          : `to ${approverList(step.escalate_to)}` + (step.escalate_after ? ` after ${duration(step.escalate_after)}` : ''))
        : null);
    const meter = h('meter', { min: 0, max: Math.max(needed || 1, 1), value: Math.min(approvals, needed || 1), 'aria-label': `approvals for step ${index + 1}` });
    const voteList = stepVotes.length
      ? h('ul', { class: 'votes' }, stepVotes.map((vote) => h('li', null,
        h('span', { class: 'badge ' + (vote.approve ? 'state-approved' : 'state-rejected') }, vote.approve ? 'approved' : 'rejected'),
        ' ', h('strong', null, vote.approver), ' ', timeElement(vote.time),
        vote.reason ? h('span', { class: 'vote-reason' }, ' — ', vote.reason) : null)))
      : h('p', { class: 'muted small' }, 'No votes yet.');
    return h('li', { class: 'step step-' + status.replace(/ /g, '-'), 'aria-current': current ? 'step' : null },
      h('div', { class: 'step-head' }, h('strong', null, `Step ${index + 1} of ${steps.length}`),
        h('span', { class: 'step-status' }, status),
        h('span', { class: 'step-count' }, `${approvals} of ${needed || '?'} approvals`), meter),
      detail, voteList);
  });
  return section('Flow', h('ol', { class: 'steps' }, items),
    h('dl', { class: 'facts' },
      row('Expires', review.state === 'pending' ? [timeElement(review.expires_at), ` (in ${duration(review.expires_at - Date.now())})`] : timeElement(review.expires_at)),
      review.flow && review.flow.require_reason ? row('Reasons', 'an approval needs a reason') : null));
}

function summarize(event) {
  const details = event.details || {};
  const parts = [];
  for (const key of ['vote', 'reason', 'effect', 'state', 'by', 'escalate_to', 'grant', 'approvals', 'needed', 'released_secrets']) {
    if (details[key] === undefined || details[key] === '') continue;
    const value = Array.isArray(details[key]) ? details[key].join(', ') : String(details[key]);
    parts.push(`${key}: ${value}`);
  }
  return parts.join(' · ');
}

function timelineSection(events, error) {
  if (error) return section('Timeline', h('p', { class: 'muted' }, 'The timeline is unavailable: ' + error.message));
  return section('Timeline', h('ol', { class: 'timeline' }, events.map((event) => h('li', null,
    timeElement(event.time), ' ', h('span', { class: 'event-type' }, event.type), ' ',
    h('span', { class: 'event-actor' }, event.actor),
    summarize(event) ? h('div', { class: 'muted small' }, maskedText(summarize(event))) : null,
    h('div', { class: 'small' }, link('/ui/audit?review_id=' + encodeURIComponent(event.review_id) , `event #${event.index}`))))));
}

export function reviewView(main, context, id) {
  let disposed = false;
  let review = null;
  let lastVersion = -1;

  async function load() {
    let fetched;
    try {
      fetched = await api.get('/v1/reviews/' + encodeURIComponent(id));
    } catch (error) {
      if (disposed || error.status === 401) return;
      clear(main).append(h('h1', null, 'Review'), errorBox(error));
      return;
    }
    let events = [];
    let timelineError = null;
    try {
      events = (await api.get('/v1/audit/events' + api.query({ review_id: id, limit: 1000 }))).events;
    } catch (error) {
      timelineError = error;
    }
    if (disposed) return;
    if (review && fetched.state !== review.state) announce(`This review is now ${fetched.state}`);
    review = fetched;
    lastVersion = review.version;
    draw(events, timelineError);
  }

  function draw(events, timelineError, notice) {
    const action = review.action;
    const actor = action.actor;
    const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : null;
    const headingFocused = document.activeElement && document.activeElement.tagName === 'H1' && main.contains(document.activeElement);
    const typed = document.getElementById('decision-reason');
    const typedReason = typed ? typed.value : '';
    clear(main);
    // dom.js's append skips null parts (Element.append would print "null").
    append(main, [
      h('p', { class: 'crumbs' }, link('/ui/inbox', '← Inbox')),
      h('div', { class: 'title-row' },
        h('h1', null, h('span', { class: 'verb' }, action.verb), ' on ', h('span', { class: 'target' }, action.target)),
        stateBadge(review.state)),
      notice || null,
      decideSection(review),
      section('Action',
        h('dl', { class: 'facts' },
          row('Requester', `${actor.subject} (${actor.kind})`),
          actor.on_behalf_of ? row('On behalf of', actor.on_behalf_of) : null,
          row('Door', action.door),
          row('Target', action.target),
          row('Verb', action.verb),
          row('Reason', action.reason ? maskedText(action.reason) : h('span', { class: 'muted' }, 'none given')),
          row('Asked', timeElement(review.created_at), review.state === 'pending' ? ` (waiting ${duration(Date.now() - review.created_at)})` : ''),
          row('Review', h('code', null, review.id)),
          row('Digest', h('code', { class: 'digest' }, action.digest))),
        h('h3', null, 'Parameters'),
        h('p', { class: 'muted small' }, 'Values the gateway masked are ', h('mark', { class: 'masked' }, 'marked'),
          '; the real values are never shown to reviewers.'),
        h('div', { class: 'params' }, jsonTree(action.masked_params ?? {}))),
      section('Why review',
        h('p', null, review.policy_reason || '—'),
        h('dl', { class: 'facts' }, row('Rules', (review.rules || []).join(', ') || '—'))),
      flowSection(review),
      timelineSection(events, timelineError)]);
    if (review.outcome_reason) {
      main.querySelector('.title-row').after(h('p', { class: 'outcome' }, 'Outcome: ', review.outcome_reason));
    }
    const reasonBox = document.getElementById('decision-reason');
    if (reasonBox && typedReason) reasonBox.value = typedReason;
    if (headingFocused) {
      const heading = main.querySelector('h1');
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    } else if (focused) {
      const again = document.getElementById(focused);
      if (again) again.focus();
    }
  }

  function decideSection(current) {
    if (current.state !== 'pending') return null;
    const viewer = current.viewer || {};
    const actor = current.action.actor;
    const isRequester = viewer.subject === actor.subject || viewer.subject === actor.on_behalf_of;
    const parts = [];
    if (viewer.may_vote) {
      const step = current.flow.steps[current.step] || {};
      const canEscalate = (step.escalate_to || []).length > 0 && !current.escalated;
      const reason = h('textarea', { id: 'decision-reason', name: 'reason', rows: 3, maxlength: 2000,
        'aria-describedby': 'decision-help' });
      const help = h('p', { id: 'decision-help', class: 'muted small' },
        current.flow.require_reason ? 'A reason is required to approve or reject.' : 'A reason is required to reject; optional otherwise.');
      const problem = h('div', { class: 'alert', role: 'alert', hidden: true });
      const buttons = [];
      const act = (verb) => async () => {
        const text = reason.value.trim();
        if ((verb === 'reject' || (verb === 'approve' && current.flow.require_reason)) && !text) {
          problem.textContent = `Give a reason to ${verb}.`;
          problem.hidden = false;
          reason.focus();
          return;
        }
        for (const button of buttons) button.disabled = true;
        problem.hidden = true;
        try {
          review = await api.post(`/v1/reviews/${encodeURIComponent(current.id)}/${verb}`, text ? { reason: text } : {});
          lastVersion = review.version;
          announce(`Review ${review.state}`);
          await load();
          const heading = main.querySelector('h1');
          if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus(); }
        } catch (error) {
          problem.textContent = error.message;
          problem.hidden = false;
          for (const button of buttons) button.disabled = false;
        }
      };
      buttons.push(h('button', { type: 'button', id: 'approve', class: 'primary approve', onclick: act('approve') }, 'Approve'));
      buttons.push(h('button', { type: 'button', id: 'reject', class: 'danger', onclick: act('reject') }, 'Reject'));
      if (canEscalate) buttons.push(h('button', { type: 'button', id: 'escalate', onclick: act('escalate') }, 'Escalate'));
      parts.push(h('label', { for: 'decision-reason' }, 'Reason'), reason, help, problem,
        h('div', { class: 'buttons' }, buttons));
    } else {
      parts.push(h('p', { class: 'not-yours' }, 'You cannot vote on this review: ', viewer.why_not || 'not eligible', '.'));
    }
    if (isRequester) {
      const cancelProblem = h('div', { class: 'alert', role: 'alert', hidden: true });
      const cancel = h('button', { type: 'button', id: 'cancel', class: 'danger' }, 'Cancel this request');
      cancel.addEventListener('click', async () => {
        cancel.disabled = true;
        try {
          await api.post(`/v1/reviews/${encodeURIComponent(current.id)}/cancel`, {});
          announce('Request cancelled');
          await load();
        } catch (error) {
          cancelProblem.textContent = error.message;
          cancelProblem.hidden = false;
          cancel.disabled = false;
        }
      });
      parts.push(h('div', { class: 'buttons' }, cancel), cancelProblem);
    }
    return section('Decision', ...parts);
  }

  main.append(h('h1', null, 'Review'), h('p', { class: 'muted' }, 'Loading…'));
  load();
  let pending = null;
  return {
    onReview(change) {
      if (change.id !== id || change.version === lastVersion) return;
      clearTimeout(pending);
      pending = setTimeout(load, 100);
    },
    dispose() { disposed = true; clearTimeout(pending); },
  };
}
