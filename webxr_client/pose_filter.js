// Smoothing an object's measured poses in the reference space, so that what is
// world-locked to it stays still when the object does (docs/xr.md, "Panel layout", still poses).
//
// The server measures each object's pose anew in every frame. A marker's
// orientation from one frame's four corners is noisy (about a degree on a
// 10 cm marker at half a metre), and panels that lie on the marker stand
// 10 to 20 cm from its centre, so that noise alone shakes them by several
// pixels on screen. Each pose is filtered in the reference space, where a
// still object is still whatever the device does, with a One Euro filter
// (Casiez, Roussel and Vogel, CHI 2012): a low-pass filter whose cutoff
// rises with the speed of the pose, so that a still object is smoothed
// hard and a moving one is followed with little lag. Position and rotation
// are filtered apart: the position by lerp at its speed in m/s, the rotation
// by slerp at its angular speed in rad/s.

import { Matrix4, Quaternion, Vector3 } from 'three';

/**
 * Cutoffs in Hz, betas in Hz per unit of speed (m/s, rad/s). Measured ten times a second, with a marker's
 * noise (1 degree, 2 mm), a still object's panels 15 cm from it shake about a quarter as much as unfiltered;
 * an object moving at 0.3 m/s and turning at 30 degrees/s is followed within 1.2 cm and 2.2 degrees, and one
 * moved 30 cm at once is caught up within 1 cm two measurements later (tests/browser/test_panel_layout.py).
 */
export const POSITION = { minCutoff: 0.5, beta: 8, derivativeCutoff: 1 };
export const ROTATION = { minCutoff: 0.3, beta: 2, derivativeCutoff: 1 };
const RESTART_AFTER_S = 1; // a pose measured this long after the last starts the filter afresh

/** The weight of a new sample in a first-order low-pass filter of `cutoff` Hz, `dt` seconds after the last. */
function smoothing(cutoff, dt) {
  const tau = 1 / (2 * Math.PI * cutoff);
  return 1 / (1 + tau / dt);
}

/** Filters the poses of one object (Matrix4, rigid), measured at increasing times. */
export class PoseFilter {
  constructor(position = POSITION, rotation = ROTATION) {
    this.settings = { position, rotation };
    this.time = null; // seconds, of the last sample
    this.position = new Vector3();
    this.rotation = new Quaternion();
    this.speed = 0; // m/s, filtered
    this.turnRate = 0; // rad/s, filtered
  }

  /** Forget the past: the next pose is taken as it is. */
  reset() {
    this.time = null;
  }

  /** The smoothed pose after the pose `measured` at `timeS` seconds (any clock, increasing). */
  filter(measured, timeS) {
    const position = new Vector3();
    const rotation = new Quaternion();
    measured.decompose(position, rotation, new Vector3());
    const dt = this.time === null ? Infinity : timeS - this.time;
    if (!(dt > 0) || dt > RESTART_AFTER_S) {
      this.time = timeS;
      this.position.copy(position);
      this.rotation.copy(rotation);
      this.speed = 0;
      this.turnRate = 0;
      return this.pose();
    }
    this.time = timeS;
    const { position: p, rotation: r } = this.settings;
    this.speed += smoothing(p.derivativeCutoff, dt) * (position.distanceTo(this.position) / dt - this.speed);
    this.position.lerp(position, smoothing(p.minCutoff + p.beta * this.speed, dt));
    this.turnRate += smoothing(r.derivativeCutoff, dt) * (this.rotation.angleTo(rotation) / dt - this.turnRate);
    this.rotation.slerp(rotation, smoothing(r.minCutoff + r.beta * this.turnRate, dt));
    return this.pose();
  }

  pose() {
    return new Matrix4().compose(this.position, this.rotation, new Vector3(1, 1, 1));
  }
}
