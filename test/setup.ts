import { loadNumberingPlans } from '../src/adapters/phone/numbering-plans.js';
import { setNumberingPlansLoader } from '../src/core/phone.js';

setNumberingPlansLoader(loadNumberingPlans);
