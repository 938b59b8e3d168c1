import type { BannerState } from './broker-banner.js';
import { clock } from './time.js';

/** The broker's own state above everything else: what happened and what to do. */
export function BrokerBanner({ state, onDismiss }: { state: BannerState; onDismiss(): void }) {
  const link = state.link;
  return (
    <>
      {state.config !== undefined && (
        <div className="banner error" role="alert" data-banner="config-error">
          <strong>The config file was not loaded.</strong> {state.config} Targets keep the last config that loaded; this goes once the file is fixed.
        </div>
      )}
      {link.type === 'reconnecting' && (
        <div className="banner warn" role="status" data-banner="reconnecting">
          <strong>Broker not reachable.</strong> Reconnecting by itself; the list below may be out of date.
        </div>
      )}
      {link.type === 'starting' && (
        <div className="banner warn" role="status" data-banner="starting">
          <strong>Broker starting…</strong>
        </div>
      )}
      {link.type === 'restarting' && (
        <div className="banner warn" role="status" data-banner="restarting">
          <strong>Broker restarting…</strong> {link.reason}
        </div>
      )}
      {link.type === 'stopped' && (
        <div className="banner warn" role="status" data-banner="stopped">
          <strong>Broker stopped.</strong> Targets are not listening until it starts again.
        </div>
      )}
      {link.type === 'restarted' && (
        <div className="banner info" role="status" data-banner="restarted">
          <strong>Broker restarted</strong> at {clock(link.at)}; targets and the audit feed were refreshed.{' '}
          <button type="button" className="link" onClick={onDismiss}>
            Dismiss
          </button>
        </div>
      )}
      {link.type === 'unauthorized' && (
        <div className="banner error" role="alert" data-banner="unauthorized">
          <strong>This page is no longer signed in to the broker.</strong> Run <code>secretless-desktop open</code> to open it again with a current link.
        </div>
      )}
    </>
  );
}
