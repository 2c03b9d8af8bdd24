// One review as a row of a list (inbox, my requests).
import { duration, h, link, maskedText, reviewPath, stateBadge, timeElement } from './dom.js';

export function requesterOf(review) {
  return review.action.actor.subject;
}

export function onBehalfOf(review) {
  return review.action.actor.on_behalf_of || '';
}

export function timeLeft(review, now) {
  return review.state === 'pending' && review.expires_at ? review.expires_at - now : null;
}

function field(label, ...value) {
  return [h('dt', null, label), h('dd', null, ...value)];
}

export function reviewItem(review, now, { fresh = false } = {}) {
  const action = review.action;
  const left = timeLeft(review, now);
  const urgent = left !== null && left < 10 * 60 * 1000;
  const progress = review.progress || {};
  const title = h('h2', { class: 'item-title' },
    link(reviewPath(review.id), h('span', { class: 'verb' }, action.verb), ' on ',
      h('span', { class: 'target' }, action.target)));
  const facts = h('dl', { class: 'facts' },
    field('Requester', action.actor.subject),
    onBehalfOf(review) ? field('On behalf of', onBehalfOf(review)) : null,
    field('Rule', (review.rules || []).join(', ') || '—'),
    field('Waiting', h('span', { title: new Date(review.created_at).toISOString() },
      duration(now - review.created_at))),
    left !== null ? field('Time left', h('span', { class: urgent ? 'urgent' : '' },
      left > 0 ? duration(left) : 'expiring')) : field('Decided', timeElement(review.decided_at)),
    review.state === 'pending' ? field('Approvals',
      `${progress.approvals ?? 0} of ${progress.needed ?? '?'}, step ${progress.step ?? 1} of ${progress.steps ?? 1}`) : null);
  const reason = action.reason ? h('p', { class: 'reason' }, maskedText(action.reason)) : null;
  const canVote = review.viewer && review.viewer.may_vote;
  return h('li', { class: 'item' + (fresh ? ' fresh' : '') + (urgent ? ' is-urgent' : ''), 'data-review': review.id },
    h('div', { class: 'item-head' }, title, stateBadge(review.state),
      canVote ? h('span', { class: 'badge you' }, 'your decision') : null),
    reason, facts);
}

// Most urgent (least time left) first, then newest.
export function byUrgency(a, b) {
  const left = (review) => (review.state === 'pending' && review.expires_at ? review.expires_at : Infinity);
  return left(a) - left(b) || b.created_at - a.created_at;
}

export function byNewest(a, b) {
  return b.created_at - a.created_at;
}
